"""Strategies: one small pure module each. `build` turns a book's strategy config into one."""

from __future__ import annotations

from bot.core.book import (
    Book,
    Calendar,
    Hybrid,
    IlGuard,
    Partial,
    Schedule,
    StrategyConfig,
    Threshold,
    Volatility,
)
from bot.core.book import fraction as _fraction
from strategies.base import Decision, Hold, Strategy, Targets
from strategies.calendar import CalendarStrategy
from strategies.hybrid import HybridStrategy
from strategies.il_guard import IlGuardStrategy
from strategies.partial import PartialStrategy
from strategies.threshold import ThresholdStrategy
from strategies.volatility import VolatilityStrategy

__all__ = ["Decision", "Hold", "Strategy", "Targets", "build"]


def build(book: Book, config: StrategyConfig | None = None) -> Strategy:
    """The strategy a book's config describes (nested `then` strategies included)."""
    config = book.strategy if config is None else config
    match config:
        case Threshold():
            return ThresholdStrategy()
        case Calendar():
            return CalendarStrategy(Schedule.parse(config.every))
        case Hybrid():
            return HybridStrategy(Schedule.parse(config.every))
        case Volatility():
            return VolatilityStrategy(_fraction(config.reference_vol), _fraction(config.max_widen))
        case IlGuard():
            return IlGuardStrategy(
                max_il=None if config.max_il is None else _fraction(config.max_il),
                max_price_move=None if config.max_price_move is None else _fraction(config.max_price_move),
                keep=_fraction(config.keep),
                to=config.to or book.numeraire,
                then=build(book, config.then),
            )
        case Partial():
            return PartialStrategy(_fraction(config.fraction), build(book, config.then))
    raise AssertionError(f"unknown strategy {config!r}")

"""The helpers strategies share, and what they return (defined in the core). Pure."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from fractions import Fraction

from bot.core.strategy import Decision, Hold, Strategy, Targets
from bot.core.units import fmt
from bot.core.valuation import BookView, SleeveView

__all__ = ["Decision", "Hold", "Strategy", "Targets", "breaches", "full_targets", "largest_drift", "pp"]


def pp(weight: Fraction) -> str:
    """A weight difference in percentage points, signed."""
    return f"{'+' if weight >= 0 else ''}{fmt(weight * 100, 2)} pp"


def full_targets(view: BookView) -> dict[str, Fraction]:
    """The book's targets; a bucket's sleeves share the bucket's target in their current mix.

    Sleeves of a bucket are rebalanced as one: the bucket goes to its target and nothing
    is traded between its members (they are correlated; trading them is churn).
    """
    weights = {s.label: s.target for s in view.sleeves}
    for bucket in view.buckets:
        if bucket.value == 0:
            continue
        for label in bucket.members:
            weights[label] = bucket.target * view.sleeve(label).value / bucket.value
    return weights


def breaches(view: BookView, widen: Callable[[SleeveView], Fraction] | None = None) -> list[str]:
    """What is outside its band: sleeves outside any bucket, and buckets (their members are not judged alone).

    Args:
        widen: a factor >= 1 per sleeve that widens its band (a bucket takes its members' largest).
    """
    found = []
    for sleeve in view.sleeves:
        if sleeve.sleeve.bucket is not None:
            continue
        width = sleeve.band if widen is None else sleeve.band * widen(sleeve)
        if abs(sleeve.drift) > width:
            found.append(f"{sleeve.label} {pp(sleeve.drift)} (band {fmt(width * 100, 2)} pp)")
    for bucket in view.buckets:
        width = (
            bucket.band if widen is None else bucket.band * max(widen(view.sleeve(m)) for m in bucket.members)
        )
        if abs(bucket.drift) > width:
            found.append(f"bucket {bucket.name} {pp(bucket.drift)} (band {fmt(width * 100, 2)} pp)")
    return found


def largest_drift(view: BookView) -> str:
    """The sleeve furthest from its target, for Hold reasons."""
    worst = max(view.sleeves, key=lambda s: abs(s.drift))
    return f"largest drift {worst.label} {pp(worst.drift)}"


def with_targets(view: BookView, targets: Mapping[str, Fraction]) -> BookView:
    """The same view with other sleeve targets (bucket targets follow their members)."""
    sleeves = tuple(dataclasses.replace(s, target=targets[s.label]) for s in view.sleeves)
    buckets = tuple(
        dataclasses.replace(b, target=sum((targets[label] for label in b.members), Fraction(0)))
        for b in view.buckets
    )
    return dataclasses.replace(view, sleeves=sleeves, buckets=buckets)


def without_bucket(view: BookView, labels: set[str]) -> BookView:
    """The same view with the sleeves in `labels` taken out of their buckets (judged and targeted alone).

    Their buckets keep the remaining members, with the remaining members' value, weight and target.
    """
    sleeves = tuple(
        dataclasses.replace(s, sleeve=s.sleeve.model_copy(update={"bucket": None}))
        if s.label in labels
        else s
        for s in view.sleeves
    )
    by_label = {s.label: s for s in sleeves}
    buckets = []
    for bucket in view.buckets:
        members = tuple(label for label in bucket.members if label not in labels)
        if not members:
            continue
        buckets.append(
            dataclasses.replace(
                bucket,
                members=members,
                value=sum((by_label[m].value for m in members), Fraction(0)),
                weight=sum((by_label[m].weight for m in members), Fraction(0)),
                target=sum((by_label[m].target for m in members), Fraction(0)),
            )
        )
    return dataclasses.replace(view, sleeves=sleeves, buckets=tuple(buckets))

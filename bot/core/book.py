"""The book file: what the keeper holds and how it rebalances (TOML, validated by pydantic). Pure.

A book is a set of sleeves, each an LP position in a pair or an idle token, with target
weights that sum to 1 and a band around each target. Every mistake is found when the
file is loaded and reported as one line naming the key at fault; nothing runs on a
book that does not validate. What only the chain can tell (a pair's real tokens, a
token's decimals) is checked against the first snapshot by `bot.core.valuation`.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.core import presets
from bot.core.address_book import Address
from bot.core.errors import BadInput, describe

PAIR_NAME = re.compile(r"^([^/\s]+)/([^/\s]+)$")
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_BLOCKS = re.compile(r"^\s*(?:every\s+)?(\d+\s+)?blocks?\s*$")
DEFAULT_BAND = Fraction(5, 100)
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}

# Upper bounds of what the book hands to the chain, the journal (SQLite: 64-bit integers) or the clock.
MAX_DEADLINE_S = 86_400  # a signed bundle valid for longer than a day is not a deadline
MAX_CHAIN_ID = 2**63 - 37  # EIP-2294: floor(MAX_UINT64 / 2) - 36
MAX_GAS_PRICE_GWEI = 1_000_000  # 0.001 native per gas: beyond any chain's fee market, and far below 2**63 wei
MAX_SCHEDULE_S = 366 * 86_400  # a period longer than a year is a typo (and past year 9999 for the clock)
MAX_TWAP_WINDOW_S = 7 * 86_400
MAX_NUMBER = 10**30  # no amount, ratio or price of a book comes near; 1e999999 overflows as wei


def _exact(value: Any) -> Any:
    """TOML floats as the decimal they were written as (0.1 stays 0.1, not 0.1000000000000000055)."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    return value


Number = Annotated[Decimal, BeforeValidator(_exact), Field(ge=-MAX_NUMBER, le=MAX_NUMBER)]
Share = Annotated[Decimal, BeforeValidator(_exact), Field(ge=0, le=1)]


@functools.lru_cache(maxsize=4096)
def fraction(value: Decimal) -> Fraction:
    """A config number as an exact Fraction (remembered: a book's few numbers are read every head)."""
    return Fraction(value)


# --- schedules --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Moment:
    """A point on the chain: block number and its timestamp."""

    block: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class Schedule:
    """Every `blocks` blocks or every `seconds` seconds, in periods aligned to block 0 / the epoch.

    Aligned periods make "due" a pure function of now and the last time: a daily schedule
    is due once per UTC day, however late in the day the last run was.
    """

    blocks: int | None = None
    seconds: int | None = None

    @classmethod
    def parse(cls, text: str) -> Schedule:
        """'block', 'every block', '10 blocks', '30s', '15m', '6h', '1d', '1w'."""
        if match := _BLOCKS.match(text):
            count = int(match.group(1) or 1)
            if count == 0:
                raise ValueError(f"schedule {text!r}: zero blocks")
            return cls(blocks=count)
        if match := _DURATION.match(text):
            seconds = int(match.group(1)) * _SECONDS[match.group(2)]
            if seconds == 0:
                raise ValueError(f"schedule {text!r}: zero time")
            if seconds > MAX_SCHEDULE_S:
                raise ValueError(f"schedule {text!r} is longer than {MAX_SCHEDULE_S // 86_400}d")
            return cls(seconds=seconds)
        raise ValueError(f"schedule {text!r} is neither 'N blocks' nor a duration like 30m, 6h, 1d")

    def period(self, at: Moment) -> int:
        """The index of the period `at` falls in."""
        if self.blocks is not None:
            return at.block // self.blocks
        assert self.seconds is not None
        return at.timestamp // self.seconds

    def due(self, now: Moment, last: Moment | None) -> bool:
        """True when `now` is in a later period than `last` (or nothing happened yet)."""
        return last is None or self.period(now) > self.period(last)

    def next_start(self, now: Moment) -> str:
        """When the next period starts, for messages (UTC)."""
        if self.blocks is not None:
            return f"block {(self.period(now) + 1) * self.blocks}"
        assert self.seconds is not None
        start = datetime.fromtimestamp((self.period(now) + 1) * self.seconds, UTC)
        return start.strftime("%Y-%m-%d %H:%M:%S UTC")

    def __str__(self) -> str:
        if self.blocks is not None:
            return "every block" if self.blocks == 1 else f"every {self.blocks} blocks"
        assert self.seconds is not None
        for unit in ("w", "d", "h", "m"):
            if self.seconds % _SECONDS[unit] == 0:
                return f"every {self.seconds // _SECONDS[unit]}{unit}"
        return f"every {self.seconds}s"


def _schedule_text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"a schedule is a string like 'block', '10 blocks', '30m' or '1d', not {value!r}")
    Schedule.parse(value)
    return value


ScheduleText = Annotated[str, BeforeValidator(_schedule_text)]


# --- parts of the book ---------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TokenConfig(_Strict):
    """A token: its address and the fee it takes on transfer (fee-on-transfer tokens cannot be sleeves)."""

    address: Address
    transfer_fee_bps: int = Field(default=0, ge=0, lt=10_000)


def _token_entry(value: Any) -> Any:
    return {"address": value} if isinstance(value, str) else value


class Band(_Strict):
    """A band around a target: absolute (weight points, 0.05 = 5 pp) or relative to the target."""

    band: Share | None = None
    band_relative: Share | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Band:
        if self.band is not None and self.band_relative is not None:
            raise ValueError("give band (absolute) or band_relative, not both")
        return self

    def width(self, target: Fraction, default: Band | None = None) -> Fraction:
        """The band's half-width in weight for a sleeve with `target`."""
        if self.band is not None:
            return fraction(self.band)
        if self.band_relative is not None:
            return fraction(self.band_relative) * target
        if default is None:
            raise ValueError("no band")
        return default.width(target)


class Sleeve(Band):
    """One position of the book: LP in a pair or an idle token, with its target weight.

    Attributes:
        entry: the amounts deposited, in whole tokens by symbol (for IL and PnL versus holding).
        entry_lp: the LP those amounts minted (default: the LP held now).
    """

    name: str | None = None
    pair: str | None = None
    token: str | None = None
    target: Share
    bucket: str | None = None
    entry: dict[str, Number] | None = None
    entry_lp: Number | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _pair_or_token(self) -> Sleeve:
        if (self.pair is None) == (self.token is None):
            raise ValueError("a sleeve holds either a pair (LP) or a token, exactly one of them")
        if self.entry is not None and self.pair is None:
            raise ValueError("entry amounts belong to LP sleeves (pair = ...)")
        return self

    @property
    def label(self) -> str:
        """The sleeve's name: given, or the pair's / token's."""
        return self.name or self.pair or self.token or "?"

    @property
    def is_lp(self) -> bool:
        return self.pair is not None


class Bucket(Band):
    """Correlated sleeves rebalanced as one: the band applies to their summed weight."""


class Dex(_Strict):
    """The book's V2 deployment: its swap fee (every pair's that names no other DEX) and the token
    that prices gas (the wrapped native token)."""

    name: str = "uniswap-v2"
    fee_bps: int = Field(default=30, ge=0, lt=10_000)
    native: str = "WETH"


class OtherDex(_Strict):
    """Another V2 deployment some of the book's pairs are on (`[dexes.NAME]`): a preset of the
    book's chain (`preset = "pancakeswap-v2"`), or its swap fee and where it is (the factory and
    the pairs' init code hash, for `init` and its CREATE2 proof)."""

    preset: str | None = None
    fee_bps: int | None = Field(default=None, ge=0, lt=10_000)
    factory: Address | None = None
    init_code_hash: str | None = Field(default=None, pattern=r"^0x[0-9a-fA-F]{64}$")


def _pair_entries(data: Any) -> Any:
    """`"A/B" = "0x…"` or `"A/B" = { address = "0x…", dex = "NAME" }`: the addresses stay in
    `pairs`, the DEX names go to `pair_dexes`."""
    if not isinstance(data, dict) or not isinstance(data.get("pairs"), dict):
        return data
    pairs, dexes = {}, dict(data.get("pair_dexes") or {})
    for name, value in data["pairs"].items():
        if isinstance(value, dict):
            extra = set(value) - {"address", "dex"}
            if extra or "address" not in value:
                given = ", ".join(sorted(value))
                raise ValueError(f"pair {name}: an address, or a table with address and dex (not {given})")
            pairs[name] = value["address"]
            if "dex" in value:
                dexes[name] = value["dex"]
        else:
            pairs[name] = value
    return {**data, "pairs": pairs, "pair_dexes": dexes}


class Prices(_Strict):
    """How tokens are priced in the numeraire.

    Attributes:
        routes: token symbol -> pair names from it to the numeraire; default: the deepest route.
        twap_window: the TWAP window (a duration), from the pairs' cumulative prices.
        max_hops: the longest route the planner swaps along.
    """

    routes: dict[str, list[str]] = Field(default_factory=dict)
    twap_window: ScheduleText = "30m"
    max_hops: int = Field(default=3, ge=1, le=4)

    @field_validator("twap_window")
    @classmethod
    def _window_is_time(cls, value: str) -> str:
        seconds = Schedule.parse(value).seconds
        if seconds is None:
            raise ValueError(f"{value!r} must be a duration like 30m, not blocks")
        if seconds > MAX_TWAP_WINDOW_S:
            raise ValueError(f"{value!r} is longer than a week ({MAX_TWAP_WINDOW_S // 86_400}d)")
        return value

    @property
    def twap_window_s(self) -> int:
        seconds = Schedule.parse(self.twap_window).seconds
        assert seconds is not None  # checked at load
        return seconds


class Policy(Band):
    """When to look, how precisely to trade, and what a rebalance may cost.

    Attributes:
        evaluate: how often the keeper evaluates the book ('block', '10 blocks', '1d').
        band / band_relative: the default band of sleeves that give none (DEFAULT_BAND if unset).
        deadband: sleeve trades smaller than this share of the book's value are not made.
        min_trade_value: nor trades worth less than this, in the numeraire.
        max_cost_bps: hold when a plan costs more than this, in bps of the value traded.
        benefit_bps: the expected benefit of moving one unit of misallocated value back to
            target, in bps of it; hold when the plan's cost exceeds its benefit.
        slippage_bps: the tolerance of every min-out below the prediction.
        deadline_s: how long a signed bundle stays valid (at most a day).
    """

    evaluate: ScheduleText = "block"
    deadband: Share = Decimal("0.005")
    min_trade_value: Number = Field(default=Decimal(0), ge=0)
    max_cost_bps: Number = Field(default=Decimal(50), ge=0)
    benefit_bps: Number = Field(default=Decimal(100), ge=0)
    slippage_bps: int = Field(default=50, ge=0, lt=10_000)
    deadline_s: int = Field(default=300, gt=0, le=MAX_DEADLINE_S)

    def width(self, target: Fraction, default: Band | None = None) -> Fraction:
        """The default band: the policy's own, or DEFAULT_BAND when it gives none."""
        if self.band is None and self.band_relative is None:
            return DEFAULT_BAND
        return super().width(target)


class FeePolicy(_Strict):
    """How the book pays for gas (EIP-1559).

    Attributes:
        tip_percentile: the reward percentile of recent blocks the tip follows.
        min_tip_gwei: the tip is never below this.
        headroom: the fee cap is the next base fee times this, plus the tip.
        max_fee_gwei: never pay more per gas than this: refuse to send while the next base
            fee plus the tip exceeds it, and cap the fee cap at it (unset: no cap).
        gas_margin_bps: the gas limit is the node's estimate plus this margin.
        confirmations: blocks on top of the receipt's block before it counts (1: the block itself).
        replace_after_blocks: a transaction not mined after this many blocks is replaced on its
            nonce with higher fees.
        bump_bps: a replacement raises both the fee cap and the tip by at least this (geth and
            most nodes refuse less than 10% on either).
        max_replacements: after this many replacements of one intent, it is left to be mined or dropped.
    """

    tip_percentile: int = Field(default=50, ge=0, le=100)
    min_tip_gwei: Number = Field(default=Decimal("0.01"), ge=0, le=MAX_GAS_PRICE_GWEI)
    headroom: int = Field(default=2, ge=1, le=10)
    max_fee_gwei: Number | None = Field(default=None, gt=0, le=MAX_GAS_PRICE_GWEI)
    gas_margin_bps: int = Field(default=2000, ge=0, le=10_000)
    confirmations: int = Field(default=1, ge=1, le=256)
    replace_after_blocks: int = Field(default=3, ge=1, le=1000)
    bump_bps: int = Field(default=1250, ge=1000, le=10_000)
    max_replacements: int = Field(default=10, ge=0, le=100)

    @property
    def min_tip_wei(self) -> int:
        return int(self.min_tip_gwei * 10**9)

    @property
    def max_fee_wei(self) -> int | None:
        return None if self.max_fee_gwei is None else int(self.max_fee_gwei * 10**9)


class KeeperSettings(_Strict):
    """How `ammkeeper run` talks to the chain (`[keeper]`).

    Attributes:
        block_time_s: the chain's block time: HTTP endpoints are polled for a new head this often.
        send_rpc: endpoints for sending transactions (a private relay first); the book's `rpc`
            endpoints are the fallback.
        cross_check: before sending, read the balances the plan relies on from a second endpoint
            (when the book has one) and refuse when they differ.
        rate_limit_per_s: at most this many requests per second to each endpoint pool (a token bucket).
        rpc_deadline_s: the deadline of every request.
        rpc_retries: retries of a failed request (jittered backoff, Retry-After honoured).
        metrics: HOST:PORT of the /metrics and /healthz server, and of the dashboard (unset: none).
        dashboard_token_env: the environment variable that holds the dashboard's control token
            (unset, or the variable empty: the dashboard is read-only).
        pause_file: the kill switch: the keeper sends nothing while this file exists (default:
            beside the book, BOOK.paused).
    """

    block_time_s: Number = Field(default=Decimal(12), gt=0, le=3600)
    send_rpc: list[str] = Field(default_factory=list)
    cross_check: bool = True
    rate_limit_per_s: Number = Field(default=Decimal(25), gt=0)
    rpc_deadline_s: Number = Field(default=Decimal(10), gt=0, le=300)
    rpc_retries: int = Field(default=3, ge=0, le=10)
    metrics: str | None = None
    dashboard_token_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    pause_file: str | None = None

    @field_validator("metrics")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            host_port(value)
        return value


def host_port(text: str) -> tuple[str, int]:
    """'127.0.0.1:9464' -> ('127.0.0.1', 9464); BadInput (a ValueError) naming the text otherwise."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65_536:
        raise BadInput(f"{text!r} is not HOST:PORT (a port in 0..65535)")
    return host.strip("[]"), int(port)


class Guards(_Strict):
    """What stops the keeper from sending (`[guards]`).

    Attributes:
        max_failures: the circuit breaker: after this many failures in a row (a reverted bundle,
            a refused send, a simulation that differs) the keeper pauses itself.
        daily_gas_budget: at most this much native token (ETH) on gas per UTC day.
        max_gas_price_gwei: no new rebalance while the next base fee is above this.
        max_twap_deviation: refuse while a price the plan uses is this far from its TWAP (0.05 = 5%).
        max_bundle_value: at most this much value (in the numeraire) traded per bundle.
        min_gas_balance: alert when the keeper's native balance falls below this.
    """

    max_failures: int = Field(default=3, ge=1, le=100)
    daily_gas_budget: Number | None = Field(default=None, gt=0)
    max_gas_price_gwei: Number | None = Field(default=None, gt=0, le=MAX_GAS_PRICE_GWEI)
    max_twap_deviation: Share | None = Decimal("0.05")
    max_bundle_value: Number | None = Field(default=None, gt=0)
    min_gas_balance: Number = Field(default=Decimal("0.05"), ge=0)

    @property
    def daily_gas_budget_wei(self) -> int | None:
        return None if self.daily_gas_budget is None else int(self.daily_gas_budget * 10**18)

    @property
    def max_gas_price_wei(self) -> int | None:
        return None if self.max_gas_price_gwei is None else int(self.max_gas_price_gwei * 10**9)

    @property
    def min_gas_balance_wei(self) -> int:
        return int(self.min_gas_balance * 10**18)


TaxMethod = Literal["fifo", "lifo", "hifo", "specific"]


class Tax(_Strict):
    """How the book's gains are taxed (`[tax]`); without it the planner ignores taxes.

    Attributes:
        method: which lots a sale takes: fifo, lifo, hifo (highest unit cost first), or specific
            (the planner names the lots that cost the least tax: losses first, then the smallest
            gains, long-term ones at their lower rate).
        long_term_days: held more than this many days is long term.
        lp: "trade": an LP deposit or withdrawal disposes of what it gives at the value of what it
            gets; "non-taxable": the tokens' basis and holding start carry into the LP and back.
        short_rate / long_rate: the tax on a unit of realized gain, as a share (0.37 = 37%).
        short_budget / long_budget: at most this much net realized gain per calendar year (UTC), in
            the numeraire; a rebalance that would pass it moves only as far as it allows.
        harvest_losses: count the tax a realized loss saves as a benefit of the plan.
        wash_sale_days: no buying back within this many days of a sale at a loss (0: off).
        start_block: where the vault's deposits start (its deployment block): the chain is read
            from there for them.
    """

    method: TaxMethod = "hifo"
    long_term_days: int = Field(default=365, ge=1, le=36_500)
    lp: Literal["trade", "non-taxable"] = "trade"
    short_rate: Share = Decimal(0)
    long_rate: Share = Decimal(0)
    short_budget: Number | None = Field(default=None, ge=0)
    long_budget: Number | None = Field(default=None, ge=0)
    harvest_losses: bool = False
    wash_sale_days: int = Field(default=0, ge=0, le=366)
    start_block: int = Field(default=0, ge=0)


class Alerts(_Strict):
    """Where alerts go (`[alerts]`): a webhook in one of four formats.

    Attributes:
        webhook: the URL (it often holds a secret: prefer `webhook_env`).
        webhook_env: an environment variable holding the URL.
        format: generic (JSON), slack, discord or telegram.
        chat_id: the Telegram chat.
    """

    webhook: str | None = None
    webhook_env: str | None = None
    format: Literal["generic", "slack", "discord", "telegram"] = "generic"
    chat_id: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Alerts:
        if self.webhook and self.webhook_env:
            raise ValueError("give webhook or webhook_env, not both")
        if self.format == "telegram" and (self.webhook or self.webhook_env) and not self.chat_id:
            raise ValueError("format telegram needs chat_id")
        return self


# --- strategies ---------------------------------------------------------------------------------


class Threshold(_Strict):
    """Rebalance when a sleeve (or a bucket) leaves its band."""

    kind: Literal["threshold"] = "threshold"


class Calendar(_Strict):
    """Rebalance once per period, whatever the drift (small trades still skipped)."""

    kind: Literal["calendar"]
    every: ScheduleText = "1d"


class Hybrid(_Strict):
    """Look once per period; rebalance only when a band is breached then."""

    kind: Literal["hybrid"]
    every: ScheduleText = "1d"


class Volatility(_Strict):
    """Threshold with bands widened by realized volatility: band * clamp(vol / reference, 1, max_widen)."""

    kind: Literal["volatility"]
    reference_vol: Number = Field(default=Decimal("0.03"), gt=0)  # per day
    max_widen: Number = Field(default=Decimal(3), ge=1)


class IlGuard(_Strict):
    """Reduce or leave a pair whose IL or price move since entry passes a limit; else the inner strategy.

    Attributes:
        max_il: the IL (a positive share, 0.02 = 2%) that trips the guard.
        max_price_move: the relative price move since entry that trips it.
        keep: the share of its target a tripped sleeve keeps (0 = leave the pair).
        to: the token sleeve that takes the freed weight (default: the numeraire's).
    """

    kind: Literal["il_guard"]
    max_il: Share | None = Decimal("0.05")
    max_price_move: Number | None = Field(default=None, gt=0)
    keep: Share = Decimal(0)
    to: str | None = None
    then: Inner = Field(default_factory=Threshold)


class Partial(_Strict):
    """Move only `fraction` of the way to the targets the inner strategy sets."""

    kind: Literal["partial"]
    fraction: Annotated[Decimal, BeforeValidator(_exact), Field(gt=0, le=1)] = Decimal("0.5")
    then: Inner = Field(default_factory=Threshold)


def _inner(value: Any) -> Any:
    return {"kind": value} if isinstance(value, str) else value


Inner = Annotated[
    Annotated[Threshold | Calendar | Hybrid | Volatility | IlGuard | Partial, Field(discriminator="kind")],
    BeforeValidator(_inner),
]
StrategyConfig = Inner
IlGuard.model_rebuild()
Partial.model_rebuild()


# --- the book ---------------------------------------------------------------------------------


def _pair_tokens(name: str) -> tuple[str, str]:
    match = PAIR_NAME.match(name)
    if not match:
        raise ValueError(f"pair name {name!r} is not TOKEN/TOKEN")
    return match.group(1), match.group(2)


class Book(_Strict):
    """A whole book file."""

    name: str = "book"
    chain_id: int | None = Field(default=None, ge=1, le=MAX_CHAIN_ID)
    rpc: list[str] = Field(default_factory=list)
    vault: Address
    numeraire: str
    dex: Dex = Field(default_factory=Dex)
    dexes: dict[str, OtherDex] = Field(default_factory=dict)
    tokens: dict[str, Annotated[TokenConfig, BeforeValidator(_token_entry)]]
    pairs: dict[str, Address]
    pair_dexes: dict[str, str] = Field(default_factory=dict)  # pair name -> a [dexes] name
    prices: Prices = Field(default_factory=Prices)
    policy: Policy = Field(default_factory=Policy)
    fees: FeePolicy = Field(default_factory=FeePolicy)
    keeper: KeeperSettings = Field(default_factory=KeeperSettings)
    guards: Guards = Field(default_factory=Guards)
    alerts: Alerts = Field(default_factory=Alerts)
    tax: Tax | None = None
    strategy: StrategyConfig = Field(default_factory=Threshold)
    buckets: dict[str, Bucket] = Field(default_factory=dict)
    sleeves: list[Sleeve]

    @model_validator(mode="before")
    @classmethod
    def _rpc_as_list(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("rpc"), str):
            data = {**data, "rpc": [data["rpc"]]}
        return _pair_entries(data)

    def fee_bps(self, pair: str) -> int:
        """The swap fee of a pair (by name or address): its DEX's."""
        if not self.pair_dexes:  # one DEX: no lookup (the planner asks for every pair of the book)
            return self.dex.fee_bps
        name = self.pair_names.get(pair, pair)
        dex = self.pair_dexes.get(name)
        if dex is None or dex == self.dex.name:
            return self.dex.fee_bps
        fee = self.dexes[dex].fee_bps
        assert fee is not None  # filled from the preset when the book was read
        return fee

    def _resolve_dexes(self) -> None:
        """[dexes] entries that name a preset take its fee, factory and init code hash (given ones
        must agree); a pair may name a preset of the book's chain without a [dexes] entry."""
        for name in sorted({*self.pair_dexes.values()} - {self.dex.name, *self.dexes}):
            try:
                known = presets.dexes_on(self.chain_id) if self.chain_id is not None else []
            except BadInput:  # a chain without presets
                known = []
            if name not in {d.key for d in known}:
                choices = ", ".join([self.dex.name, *self.dexes, *(d.key for d in known)])
                raise ValueError(
                    f"a pair's dex {name!r} is not [dex], a [dexes] entry or a preset of the book's chain "
                    f"({choices})"
                )
            self.dexes[name] = OtherDex(preset=name)
        for name, other in self.dexes.items():
            if other.preset is None:
                if other.fee_bps is None:
                    raise ValueError(f"dexes.{name}: give its fee_bps (or a preset)")
                continue
            if self.chain_id is None:
                raise ValueError(f"dexes.{name}: a preset needs the book's chain_id")
            try:
                found = presets.dex(other.preset, presets.chain(self.chain_id).key)
            except BadInput as exc:
                raise ValueError(f"dexes.{name}: {exc}") from None
            for field, value in (("fee_bps", found.fee_bps), ("factory", found.factory)):
                given = getattr(other, field)
                if given is not None and given != value:
                    raise ValueError(f"dexes.{name}: {field} {given} is not {other.preset}'s ({value})")
            self.dexes[name] = OtherDex(
                preset=other.preset,
                fee_bps=found.fee_bps,
                factory=found.factory,
                init_code_hash=found.init_code_hash,
            )

    @model_validator(mode="after")
    def _consistent(self) -> Book:
        self._check_tokens_and_pairs()
        self._check_sleeves()
        self._check_routes()
        self._check_strategy(self.strategy)
        return self

    def _check_tokens_and_pairs(self) -> None:
        if self.numeraire not in self.tokens:
            raise ValueError(f"numeraire {self.numeraire} is not in [tokens]")
        if self.dex.native not in self.tokens:
            raise ValueError(f"dex.native {self.dex.native} (prices gas) is not in [tokens]")
        seen: dict[str, str] = {}
        for name, address in self.pairs.items():
            for symbol in _pair_tokens(name):
                if symbol not in self.tokens:
                    raise ValueError(f"pair {name}: token {symbol} is not in [tokens]")
            if address in seen:
                raise ValueError(f"pairs {seen[address]} and {name} have the same address {address}")
            seen[address] = name
        for name in self.pair_dexes:
            if name not in self.pairs:
                raise ValueError(f"pair_dexes names {name}, which is not in [pairs]")
        self._resolve_dexes()
        addresses: dict[str, str] = {}
        for symbol, token in self.tokens.items():
            if token.address in addresses:
                raise ValueError(f"tokens {addresses[token.address]} and {symbol} have the same address")
            addresses[token.address] = symbol

    def _check_sleeves(self) -> None:
        if not self.sleeves:
            raise ValueError("a book needs at least one sleeve")
        total = sum((fraction(s.target) for s in self.sleeves), Fraction(0))
        if total != 1:
            targets = " + ".join(str(s.target) for s in self.sleeves)
            exact = sum((s.target for s in self.sleeves), Decimal(0))
            raise ValueError(f"sleeve targets sum to {exact}, not 1 ({targets})")
        labels: set[str] = set()
        held: set[str] = set()
        for i, sleeve in enumerate(self.sleeves):
            where = f"sleeves[{i}] ({sleeve.label})"
            if sleeve.label in labels:
                raise ValueError(f"{where}: two sleeves are named {sleeve.label}")
            labels.add(sleeve.label)
            what = sleeve.pair or sleeve.token or ""
            if what in held:
                raise ValueError(f"{where}: {what} is held by two sleeves")
            held.add(what)
            if sleeve.pair is not None:
                self._check_lp_sleeve(where, sleeve)
            elif sleeve.token not in self.tokens:
                raise ValueError(f"{where}: unknown token {sleeve.token} (not in [tokens])")
            elif self.tokens[sleeve.token].transfer_fee_bps:
                raise ValueError(f"{where}: {sleeve.token} takes a fee on transfer; it cannot be a sleeve")
            target = fraction(sleeve.target)
            width = self.band_width(sleeve)
            if width > target and target > 0:
                raise ValueError(f"{where}: band {float(width):g} is wider than its target {sleeve.target}")
            if sleeve.bucket is not None and sleeve.bucket not in self.buckets:
                raise ValueError(f"{where}: unknown bucket {sleeve.bucket} (not in [buckets])")
        for name, bucket in self.buckets.items():
            members = [s for s in self.sleeves if s.bucket == name]
            if not members:
                raise ValueError(f"bucket {name} has no sleeves")
            target = sum((fraction(s.target) for s in members), Fraction(0))
            if bucket.width(target, self.policy) > target:
                raise ValueError(f"bucket {name}: band is wider than its target {float(target):g}")

    def _check_lp_sleeve(self, where: str, sleeve: Sleeve) -> None:
        assert sleeve.pair is not None
        if sleeve.pair not in self.pairs:
            known = ", ".join(self.pairs) or "none"
            raise ValueError(f"{where}: unknown pair {sleeve.pair} (the book's pairs: {known})")
        symbols = _pair_tokens(sleeve.pair)
        for symbol in symbols:
            if self.tokens[symbol].transfer_fee_bps:
                raise ValueError(
                    f"{where}: {symbol} takes a fee on transfer; LP in {sleeve.pair} cannot be minted exactly"
                )
        if sleeve.entry is not None and set(sleeve.entry) != set(symbols):
            raise ValueError(
                f"{where}: entry gives {', '.join(sleeve.entry)}; it needs {' and '.join(symbols)}"
            )

    def _check_routes(self) -> None:
        for symbol, route in self.prices.routes.items():
            if symbol not in self.tokens:
                raise ValueError(f"prices.routes: unknown token {symbol}")
            at = symbol
            for name in route:
                if name not in self.pairs:
                    raise ValueError(f"prices.routes.{symbol}: unknown pair {name}")
                a, b = _pair_tokens(name)
                if at not in (a, b):
                    raise ValueError(f"prices.routes.{symbol}: pair {name} does not hold {at}")
                at = b if at == a else a
            if at != self.numeraire:
                raise ValueError(f"prices.routes.{symbol} ends at {at}, not at {self.numeraire}")
        reachable = self.priced_symbols()
        needed = {self.dex.native} | {s.token for s in self.sleeves if s.token}
        for sleeve in self.sleeves:
            if sleeve.pair:
                needed.update(_pair_tokens(sleeve.pair))
        missing = sorted(needed - reachable)
        if missing:
            raise ValueError(
                f"token {missing[0]} has no price route to {self.numeraire} through the book's pairs"
            )

    def _check_strategy(self, strategy: StrategyConfig) -> None:
        if isinstance(strategy, IlGuard):
            to = strategy.to or self.numeraire
            if not any(s.token == to for s in self.sleeves):
                raise ValueError(f"strategy.to: {to} has no token sleeve to take the freed weight")
            if strategy.max_il is None and strategy.max_price_move is None:
                raise ValueError("strategy il_guard needs max_il or max_price_move")
            self._check_strategy(strategy.then)
        elif isinstance(strategy, Partial):
            self._check_strategy(strategy.then)

    # --- queries ---------------------------------------------------------------------------

    def band_width(self, sleeve: Sleeve) -> Fraction:
        """The absolute band half-width of a sleeve (its own band or the policy's default)."""
        return sleeve.width(fraction(sleeve.target), self.policy)

    def pair_symbols(self, name: str) -> tuple[str, str]:
        """The two token symbols of a pair name."""
        return _pair_tokens(name)

    def priced_symbols(self) -> set[str]:
        """Symbols with a route to the numeraire through the book's pairs (for prices, any pair will do)."""
        reachable = {self.numeraire}
        grew = True
        while grew:
            grew = False
            for name in self.pairs:
                a, b = _pair_tokens(name)
                if (a in reachable) != (b in reachable):
                    reachable.update((a, b))
                    grew = True
        return reachable

    @property
    def pair_names(self) -> Mapping[str, str]:
        """Pair name by address."""
        return {address: name for name, address in self.pairs.items()}

    @classmethod
    def load(cls, path: Path) -> Book:
        """Read and validate a book file.

        Raises:
            BadInput: the file is missing, not UTF-8, not TOML, or not a valid book (one line naming
                the key).
        """
        return cls.parse(cls.read_raw(path), str(path))

    @staticmethod
    def read_raw(path: Path) -> dict[str, Any]:
        """A book file's TOML, parsed but not validated (`--set` changes it before `parse`).

        Raises:
            BadInput: the file is missing, not UTF-8 or not TOML.
        """
        try:
            return tomllib.loads(Path(path).read_text(encoding="utf-8"))  # TOML is UTF-8, whatever the locale
        except OSError as exc:
            raise BadInput(f"book {path} cannot be read: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise BadInput(f"book {path} is not UTF-8 text (byte {exc.start})") from exc
        except tomllib.TOMLDecodeError as exc:
            raise BadInput(f"book {path} is not TOML: {exc}") from exc

    @classmethod
    def parse(cls, raw: Mapping[str, Any], source: str = "book") -> Book:
        """Validate a book from already-parsed data; errors name `source` and the key."""
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise BadInput(f"{source}: {describe(exc)}") from None

"""The vault's own guards as the keeper predicts them, and when a poke keeps them usable. Pure.

The owner's `set_guards` makes the vault refuse a bundle when a touched pair's spot, before or
after it, is further than `max_deviation_bps` from the pair's TWAP since the vault's own
observation (at least `window_s` old), within `cooldown_s` of the last bundle, or past
`per_day` bundles a UTC day. This module mirrors contracts/Executor.vy in integers (the same
UQ112x112 spot, cumulative and rounding), so the keeper knows a refusal before it simulates,
and decides its pokes: a poke records a pair's cumulative (anyone may send it; it costs gas),
and only does so once the pair's newest observation is `window_s` old.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from bot.core.snapshot import PairSnapshot

CUMULATIVE_BITS = 208
CUMULATIVE_MASK: int = 2**CUMULATIVE_BITS - 1
U64 = 2**64 - 1
DAY_S = 86_400
BPS = 10_000


def price0_now(pair: PairSnapshot, now: int) -> tuple[int, int]:
    """(spot price0 as UQ112x112, the price0 cumulative as if the pair were synced at `now`),
    as the vault's `_price0_now` computes them."""
    spot = (pair.reserve1 << 112) // pair.reserve0
    elapsed = ((now % 2**32) - pair.block_timestamp_last) % 2**32
    return spot, (pair.price0_cumulative_last + spot * elapsed) % 2**256


@dataclass(frozen=True, slots=True)
class VaultGuards:
    """The vault's guard settings and state at one block (all zero: a vault without guards).

    Attributes:
        observations: per pair address, the vault's two observation words (price0 cumulative
            mod 2**208 | timestamp << 208; zeros: never observed).
    """

    max_deviation_bps: int = 0
    window_s: int = 0
    cooldown_s: int = 0
    per_day: int = 0
    last_bundle_at: int = 0
    day: int = 0
    bundles_on_day: int = 0
    observations: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    @classmethod
    def decode(
        cls, word: int, last_bundle_at: int, day_word: int, pairs: Sequence[str], words: Sequence[int]
    ) -> VaultGuards:
        """From `guard_state(pairs)`'s answer."""
        return cls(
            max_deviation_bps=word & 0xFFFF,
            window_s=(word >> 16) & U64,
            cooldown_s=(word >> 80) & U64,
            per_day=word >> 144,
            last_bundle_at=last_bundle_at,
            day=day_word >> 128,
            bundles_on_day=day_word & (2**128 - 1),
            observations={p: (words[2 * i], words[2 * i + 1]) for i, p in enumerate(pairs)},
        )

    @property
    def priced(self) -> bool:
        """Whether the TWAP guard is on."""
        return self.max_deviation_bps != 0

    def _words(self, pair: str) -> tuple[int, int]:
        return self.observations.get(pair, (0, 0))

    def start_at(self, pair: str) -> int:
        """When the pair's TWAP window starts (the older observation; 0: none)."""
        return min(self._words(pair)) >> CUMULATIVE_BITS

    def newest_at(self, pair: str) -> int:
        return max(self._words(pair)) >> CUMULATIVE_BITS

    def ready(self, pair: str, now: int) -> bool:
        """Whether the vault has an observation of `pair` old enough for its TWAP at `now`."""
        start = self.start_at(pair)
        return start != 0 and now - start >= self.window_s

    def twap(self, pair: PairSnapshot, now: int) -> int:
        """The vault's TWAP of price0 (UQ112x112) at `now`; the pair must be `ready`."""
        start_word: int = min(self._words(pair.address))
        start = start_word >> CUMULATIVE_BITS
        _, cumulative = price0_now(pair, now)
        return ((cumulative - start_word) & CUMULATIVE_MASK) // (now - start)

    def deviation_bps(self, pair: PairSnapshot, now: int) -> float:
        """How far the pair's spot is from the vault's TWAP, in bps (for messages and pokes)."""
        spot, _ = price0_now(pair, now)
        twap = self.twap(pair, now)
        return abs(spot - twap) * BPS / twap if twap else float("inf")

    def off_twap(self, pair: PairSnapshot, now: int) -> bool:
        """The vault's own test: spot further than max_deviation_bps from the TWAP."""
        spot, _ = price0_now(pair, now)
        twap = self.twap(pair, now)
        return abs(spot - twap) * BPS > twap * self.max_deviation_bps

    def refusal(self, pairs: Iterable[PairSnapshot], now: int) -> str | None:
        """Why the vault would refuse a bundle touching `pairs` at `now`, as it stands before the
        bundle (None: it would not, before; the spot after the bundle is the simulation's to tell)."""
        until = self.last_bundle_at + self.cooldown_s
        if self.cooldown_s and now < until:
            return f"the vault cools down until {until} ({self.cooldown_s} s between bundles)"
        if self.per_day and self.day == now // DAY_S and self.bundles_on_day >= self.per_day:
            return f"the vault's {self.per_day} bundles of the day are used up"
        if not self.priced:
            return None
        for pair in pairs:
            if not self.ready(pair.address, now):
                return f"the vault has no price observation of {pair.name} {self.window_s} s old yet"
            if self.off_twap(pair, now):
                return (
                    f"{pair.name}'s spot is {self.deviation_bps(pair, now):,.1f} bps from the vault's TWAP "
                    f"(its guard: {self.max_deviation_bps} bps)"
                )
        return None

    def observed(self, pair: str, cumulative: int, now: int) -> VaultGuards:
        """Executor._observe: the guards after recording `pair`'s price0 cumulative at `now` (its
        first observation fills both words; later ones replace the older once the newer is
        `window_s` old, else nothing changes)."""
        word = (cumulative & CUMULATIVE_MASK) | (now << CUMULATIVE_BITS)
        first, second = self._words(pair)
        if first == 0 and second == 0:
            words = (word, word)
        elif now - (max(first, second) >> CUMULATIVE_BITS) >= self.window_s:
            newest = 0 if first >> CUMULATIVE_BITS >= second >> CUMULATIVE_BITS else 1
            words = (first, word) if newest == 0 else (word, second)
        else:
            return self
        return replace(self, observations={**self.observations, pair: words})

    def after_bundle(self, now: int) -> VaultGuards:
        """The cooldown's and the daily cap's counters after a bundle executed at `now`."""
        last = now if self.cooldown_s else self.last_bundle_at
        if not self.per_day:
            return replace(self, last_bundle_at=last)
        today = now // DAY_S
        done = self.bundles_on_day if self.day == today else 0
        return replace(self, last_bundle_at=last, day=today, bundles_on_day=done + 1)

    def poke_records(self, pair: str, now: int) -> bool:
        """Whether a poke at `now` writes an observation (the newest is `window_s` old, or none)."""
        newest = self.newest_at(pair)
        return newest == 0 or now - newest >= self.window_s

    def pokes_due(self, pairs: Iterable[PairSnapshot], now: int) -> list[PairSnapshot]:
        """The pairs to poke now: a poke records, and without one the guard would not be usable
        for long: no observation old enough, or spot already half the guard away from a TWAP that
        lags (a window long past moves it forward). In a quiet market nothing is poked."""
        if not self.priced:
            return []
        due = []
        for pair in pairs:
            if not self.poke_records(pair.address, now):
                continue
            if (
                not self.ready(pair.address, now)
                or self.deviation_bps(pair, now) * 2 > self.max_deviation_bps
            ):
                due.append(pair)
        return due

"""The vault's guards as the keeper predicts them: its TWAP in integers, its refusals, when a poke is due."""

from __future__ import annotations

from bot.core.snapshot import PairSnapshot, TokenInfo
from bot.core.vault_guards import CUMULATIVE_BITS, VaultGuards, price0_now

T0 = 1_800_000_000
WINDOW = 600
USDC, WETH = TokenInfo("0x" + "a1" * 20, "USDC", 6), TokenInfo("0x" + "a2" * 20, "WETH", 18)
PAIR = "0x" + "bb" * 20


def pair(reserve0: int, reserve1: int, synced_at: int, cumulative: int) -> PairSnapshot:
    return PairSnapshot(PAIR, "0x" + "f0" * 20, "0x" + "00" * 20, USDC, WETH, reserve0, reserve1, synced_at,
                        10**18, 0, cumulative, 0, 0)  # fmt: skip


def word(cumulative: int, at: int) -> int:
    return (cumulative % 2**CUMULATIVE_BITS) | (at << CUMULATIVE_BITS)


def guards(observations: tuple[int, int], **settings: int) -> VaultGuards:
    config = {"max_deviation_bps": 100, "window_s": WINDOW, **settings}
    return VaultGuards(observations={PAIR: observations}, **config)  # type: ignore[arg-type]


# a pool at 2,000 USDC a WETH since T0 (reserves in base units: price0 = WETH per USDC unit)
STEADY = pair(2_000 * 10**6 * 10**6, 10**6 * 10**18, T0, 0)


def test_the_twap_of_a_steady_pool_is_its_spot_and_nothing_is_refused_or_poked() -> None:
    spot, cumulative = price0_now(STEADY, T0 + 3_600)
    assert cumulative == spot * 3_600
    g = guards((word(0, T0), word(spot * 600, T0 + 600)))
    now = T0 + 3_600
    assert g.ready(PAIR, now) and g.twap(STEADY, now) == spot and not g.off_twap(STEADY, now)
    assert g.refusal([STEADY], now) is None
    assert g.poke_records(PAIR, now) and g.pokes_due([STEADY], now) == []  # a quiet market: no poke


def test_no_observation_old_enough_is_refused_and_poked_once() -> None:
    now = T0 + 3_600
    never = guards((0, 0))
    assert "no price observation of USDC/WETH" in (never.refusal([STEADY], now) or "")
    assert never.pokes_due([STEADY], now) == [STEADY]
    young = guards((word(0, now - 10), word(0, now - 10)))  # poked 10 s ago: a poke now records nothing
    assert not young.ready(PAIR, now) and young.pokes_due([STEADY], now) == []


def test_a_spot_away_from_the_twap_is_refused_past_the_guard_and_poked_past_half_of_it() -> None:
    start = T0 + 1_200
    now = start + WINDOW
    for moved_bps, refused, poked in ((40, False, False), (60, False, True), (150, True, True)):
        # the pool sat at 2,000 until `now`, and just moved: price0 (WETH per USDC) up by moved_bps
        base = price0_now(STEADY, now)[1]
        moved = pair(STEADY.reserve0, STEADY.reserve1 * (10_000 + moved_bps) // 10_000, now, base)
        g = guards((word(price0_now(STEADY, start)[1], start), word(price0_now(STEADY, start)[1], start)))
        assert g.off_twap(moved, now) is refused
        assert (g.refusal([moved], now) is not None) is refused
        assert round(g.deviation_bps(moved, now)) == moved_bps
        assert (g.pokes_due([moved], now) == [moved]) is poked


def test_the_cooldown_and_the_daily_cap_are_predicted() -> None:
    now = T0 + 10 * 86_400
    assert "cools down" in (VaultGuards(cooldown_s=3_600, last_bundle_at=now - 10).refusal([], now) or "")
    assert VaultGuards(cooldown_s=3_600, last_bundle_at=now - 3_600).refusal([], now) is None
    capped = VaultGuards(per_day=2, day=now // 86_400, bundles_on_day=2)
    assert "used up" in (capped.refusal([], now) or "")
    assert VaultGuards(per_day=2, day=now // 86_400 - 1, bundles_on_day=2).refusal([], now) is None


def test_decode_reads_guard_state() -> None:
    settings = 100 | (600 << 16) | (3_600 << 80) | (24 << 144)
    g = VaultGuards.decode(settings, 123, (5 << 128) | 7, [PAIR], [word(9, 10), word(11, 20)])
    assert (g.max_deviation_bps, g.window_s, g.cooldown_s, g.per_day) == (100, 600, 3_600, 24)
    assert (g.last_bundle_at, g.day, g.bundles_on_day) == (123, 5, 7)
    assert (g.start_at(PAIR), g.newest_at(PAIR)) == (10, 20)

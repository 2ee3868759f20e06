#pragma version ~=0.4.3
#pragma evm-version cancun
"""
@title Executor
@notice The book's vault. The owner (a cold key) deposits, withdraws to itself,
        sets the keeper, allowlists pairs and pauses. The keeper (a hot key on a
        VPS) may only `execute` bundles of burns, swaps and mints on allowlisted
        Uniswap V2 pairs, directly (no router, no approvals), in one atomic call.
@dev Ops are packed bytes, big-endian, one after another:
       op (1) | pair (20) | fields of 16 bytes each
     BURN      liquidity, min_amount0, min_amount1
     SWAP0/1   amount_in, min_out            (SWAP0: token0 in, SWAP1: token1 in)
     MINT      amount0, amount1, min_liquidity
     ZAP0/1    amount_in, min_liquidity      (single-sided, token0 / token1 in)
     FLOOR     (the 20 bytes name a token or an LP, not a pair) minimum
               the vault's balance of it at that point must be at least the minimum: the
               planner puts one per token and LP the bundle touches after its last op, so the
               whole bundle's loss against its prediction is bounded, however the per-op
               minimums compound
     CARRY: an amount field (of SWAP, MINT or ZAP) with its top bit set spends everything earlier
     ops of the bundle produced of that token and no op has spent yet, plus its low 126 bits (or,
     with the next bit, SHORT, set: less them, down to zero):
     an op after a burn or a swap uses what the vault actually received, never another
     sleeve's balance. A MINT with a carried side sends the largest amounts that keep the pair's
     ratio (the rest stays in the vault, bounded by the floors).
     The packed ops end with 31 zero bytes of padding (so every field is read with
     one 32-byte load). An amount of 0 means "the vault's whole balance" of that token (LP for BURN),
     so a bundle survives rounding between plan and execution. A MINT with both
     amounts given sends exactly those; with a whole-balance side it sends the
     largest amounts that keep the pair's ratio (the rest stays in the vault).
     Fee-on-transfer pairs (flagged at allowlisting) price swaps on what the pair
     received and check every minimum against the vault's balance deltas.
"""

from ethereum.ercs import IERC20


interface IPair:
    def getReserves() -> (uint112, uint112, uint32): view
    def token0() -> address: view
    def token1() -> address: view
    def balanceOf(owner: address) -> uint256: view
    def transfer(to: address, amount: uint256) -> bool: nonpayable
    def swap(amount0_out: uint256, amount1_out: uint256, to: address, data: Bytes[32]): nonpayable
    def mint(to: address) -> uint256: nonpayable
    def burn(to: address) -> (uint256, uint256): nonpayable
    def price0CumulativeLast() -> uint256: view


event Executed:
    # the keeper is the transaction's sender: not repeated here
    bundle_id: indexed(bytes32)
    ops: uint256

event KeeperSet:
    keeper: indexed(address)

event PairAllowed:
    pair: indexed(address)
    fee_bps: uint256
    flags: uint256

event PairRemoved:
    pair: indexed(address)

event Paused:
    by: indexed(address)

event Unpaused:
    by: indexed(address)

event GuardsSet:
    max_deviation_bps: uint256
    window_s: uint256
    cooldown_s: uint256
    max_bundles_per_day: uint256

event Withdrawn:
    token: indexed(address)
    amount: uint256

event OwnerProposed:
    owner: indexed(address)

event OwnerChanged:
    owner: indexed(address)


MAX_OPS_BYTES: constant(uint256) = 4096
MAX_SIM_TOKENS: constant(uint256) = 64
PADDING: constant(uint256) = 31
OP_BURN: constant(uint256) = 1
OP_SWAP0: constant(uint256) = 2
OP_SWAP1: constant(uint256) = 3
OP_MINT: constant(uint256) = 4
OP_ZAP0: constant(uint256) = 5
OP_ZAP1: constant(uint256) = 6
OP_FLOOR: constant(uint256) = 7

# pair flags (bits of the config word, above token0 and the fee)
ALLOWED: constant(uint256) = 1
FOT0: constant(uint256) = 2
FOT1: constant(uint256) = 4
FEE_SHIFT: constant(uint256) = 160
FLAG_SHIFT: constant(uint256) = 176
ADDRESS_MASK: constant(uint256) = 2**160 - 1
PAUSED_BIT: constant(uint256) = 2**160
FEE_DENOMINATOR: constant(uint256) = 10_000
CARRY: constant(uint256) = 2**127
SHORT: constant(uint256) = 2**126
AMOUNT_MASK: constant(uint256) = 2**126 - 1
MAX_TOUCHED: constant(uint256) = 64
DAY: constant(uint256) = 86_400
CUMULATIVE_BITS: constant(uint256) = 208
CUMULATIVE_MASK: constant(uint256) = 2**208 - 1

owner: public(address)
proposed_owner: public(address)  # two steps: a mistyped owner can never take the vault
# keeper address in the low 160 bits, the paused flag above: one SLOAD checks both
_keeper_state: uint256
# token0 | fee_bps << 160 | flags << 176, and token1: two slots a pair
_pair_word: HashMap[address, uint256]
_pair_token1: HashMap[address, address]
# the owner's price guards (off while max_deviation_bps is 0): a touched pair's spot, before and
# after the bundle, within max_deviation_bps of its TWAP over at least window_s, from the vault's
# own observations; at least cooldown_s between bundles; at most max_bundles_per_day a UTC day
# max_deviation_bps (16 bits) | window_s (64) << 16 | cooldown_s (64) << 80 | max_bundles_per_day (64) << 144:
# one SLOAD a bundle while they are off
_guards: uint256
last_bundle_at: public(uint256)
_bundles_on_day: uint256  # day << 128 | bundles that day
# each pair's two price observations: the TWAP window's start (the older) and the next start (the
# newer, which becomes the start once it is old enough), each one word of its price0 cumulative
# mod 2**208 | its timestamp << 208, so a new observation costs one write. Differences mod 2**208 are
# exact while a window's sum of UQ112x112 prices stays under 2**208 (a price under 2**79 for a day)
_obs: HashMap[address, HashMap[uint256, uint256]]
# the pairs the running bundle touched (their spot is checked again after the last op)
_touched_count: transient(HashMap[uint256, uint256])
_touched: transient(HashMap[uint256, HashMap[uint256, address]])
_seen: transient(HashMap[uint256, HashMap[address, bool]])
# what the running bundle produced of each token and has not spent yet (transient: gone after the
# transaction; keyed by a bundle number, so two bundles in one transaction never share a tally)
_bundles: transient(uint256)
_carried: transient(HashMap[uint256, HashMap[address, uint256]])


@deploy
def __init__(keeper: address):
    self.owner = msg.sender
    self._keeper_state = convert(keeper, uint256)
    log KeeperSet(keeper=keeper)


# --- views --------------------------------------------------------------------------------

@external
@view
def keeper() -> address:
    return convert(convert(self._keeper_state & ADDRESS_MASK, uint160), address)


@external
@view
def paused() -> bool:
    return self._keeper_state & PAUSED_BIT != 0


@external
@view
def pair_config(pair: address) -> (address, address, uint256, uint256):
    """@notice (token0, token1, fee_bps, flags) of an allowlisted pair; flags 0 when not allowed."""
    word: uint256 = self._pair_word[pair]
    return (
        convert(convert(word & ADDRESS_MASK, uint160), address),
        self._pair_token1[pair],
        (word >> FEE_SHIFT) & 65535,
        word >> FLAG_SHIFT,
    )


# --- owner --------------------------------------------------------------------------------

@internal
@view
def _only_owner():
    assert msg.sender == self.owner, "executor: not the owner"


@external
def propose_owner(owner: address):
    """@notice The owner names its successor (a multisig, a new key); it takes over by accepting."""
    self._only_owner()
    self.proposed_owner = owner
    log OwnerProposed(owner=owner)


@external
def accept_ownership():
    """@notice The proposed owner takes the vault over."""
    assert msg.sender == self.proposed_owner and msg.sender != empty(address), "executor: not the proposed owner"
    self.owner = msg.sender
    self.proposed_owner = empty(address)
    log OwnerChanged(owner=msg.sender)


@external
def set_keeper(keeper: address):
    self._only_owner()
    self._keeper_state = (self._keeper_state & PAUSED_BIT) | convert(keeper, uint256)
    log KeeperSet(keeper=keeper)


@external
def allow_pair(pair: address, fee_bps: uint256, fot0: bool, fot1: bool):
    """@notice Allowlist a V2 pair with its swap fee (30 Uniswap/Sushi, 25 PancakeSwap V2)."""
    self._only_owner()
    assert fee_bps < FEE_DENOMINATOR, "executor: fee too high"
    token0: address = staticcall IPair(pair).token0()
    token1: address = staticcall IPair(pair).token1()
    flags: uint256 = ALLOWED
    if fot0:
        flags |= FOT0
    if fot1:
        flags |= FOT1
    self._pair_word[pair] = convert(token0, uint256) | (fee_bps << FEE_SHIFT) | (flags << FLAG_SHIFT)
    self._pair_token1[pair] = token1
    log PairAllowed(pair=pair, fee_bps=fee_bps, flags=flags)


@external
def remove_pair(pair: address):
    self._only_owner()
    self._pair_word[pair] = 0
    self._pair_token1[pair] = empty(address)
    log PairRemoved(pair=pair)


@external
def pause():
    """@notice The owner or the keeper may stop execution; only the owner resumes it."""
    assert msg.sender == self.owner or convert(msg.sender, uint256) == self._keeper_state & ADDRESS_MASK, (
        "executor: not the owner or keeper"
    )
    self._keeper_state |= PAUSED_BIT
    log Paused(by=msg.sender)


@external
def unpause():
    self._only_owner()
    self._keeper_state &= ADDRESS_MASK
    log Unpaused(by=msg.sender)


@external
def set_guards(max_deviation_bps: uint256, window_s: uint256, cooldown_s: uint256, max_bundles_per_day: uint256):
    """@notice The price guards (max_deviation_bps 0: off), the cooldown and the daily cap (0: none)."""
    self._only_owner()
    assert max_deviation_bps < FEE_DENOMINATOR, "executor: deviation too high"
    assert max_deviation_bps == 0 or window_s > 0, "executor: a guard needs a window"
    assert window_s < 2**64 and cooldown_s < 2**64 and max_bundles_per_day < 2**64, "executor: too large"
    self._guards = max_deviation_bps | (window_s << 16) | (cooldown_s << 80) | (max_bundles_per_day << 144)
    log GuardsSet(
        max_deviation_bps=max_deviation_bps, window_s=window_s, cooldown_s=cooldown_s,
        max_bundles_per_day=max_bundles_per_day,
    )


@external
@view
def guards() -> (uint256, uint256, uint256, uint256):
    """@notice (max_deviation_bps, window_s, cooldown_s, max_bundles_per_day)."""
    word: uint256 = self._guards
    return word & 65535, (word >> 16) & (2**64 - 1), (word >> 80) & (2**64 - 1), word >> 144


@external
@view
def guard_state(pairs: DynArray[address, MAX_TOUCHED]) -> (uint256, uint256, uint256, DynArray[uint256, 2 * MAX_TOUCHED]):
    """@notice Everything the keeper needs to predict the guards, in one call: the guards' word,
    last_bundle_at, the day's count (day << 128 | bundles) and each pair's two observation words."""
    words: DynArray[uint256, 2 * MAX_TOUCHED] = []
    for pair: address in pairs:
        words.append(self._obs[pair][0])
        words.append(self._obs[pair][1])
    return self._guards, self.last_bundle_at, self._bundles_on_day, words


@internal
@view
def _price0_now(pair: address) -> (uint256, uint256):
    """(spot price0 as UQ112x112, the price0 cumulative as if the pair were synced now)."""
    r0: uint112 = 0
    r1: uint112 = 0
    ts: uint32 = 0
    r0, r1, ts = staticcall IPair(pair).getReserves()
    spot: uint256 = (convert(r1, uint256) << 112) // convert(r0, uint256)
    elapsed: uint256 = unsafe_sub(block.timestamp % 2**32, convert(ts, uint256)) % 2**32
    # the pair's counters wrap, as in UniswapV2OracleLibrary
    cumulative: uint256 = unsafe_add(staticcall IPair(pair).price0CumulativeLast(), unsafe_mul(spot, elapsed))
    return spot, cumulative


@internal
def _observe(pair: address, cumulative: uint256):
    """Keep the window's start at least guard_window_s old: the newer observation becomes the start
    once it is, and the new one takes the older one's place."""
    word: uint256 = (cumulative & CUMULATIVE_MASK) | (block.timestamp << CUMULATIVE_BITS)
    first: uint256 = self._obs[pair][0]
    second: uint256 = self._obs[pair][1]
    if first == 0 and second == 0:
        self._obs[pair][0] = word
        self._obs[pair][1] = word
        return
    newest: uint256 = 0 if first >> CUMULATIVE_BITS >= second >> CUMULATIVE_BITS else 1
    newest_at: uint256 = max(first, second) >> CUMULATIVE_BITS
    if block.timestamp - newest_at >= (self._guards >> 16) & (2**64 - 1):
        self._obs[pair][1 - newest] = word


@external
def poke(pairs: DynArray[address, MAX_TOUCHED]):
    """@notice Anyone may record the allowlisted pairs' prices (the TWAP windows' observations)."""
    for pair: address in pairs:
        assert (self._pair_word[pair] >> FLAG_SHIFT) & ALLOWED != 0, "executor: pair not allowed"
        spot: uint256 = 0
        cumulative: uint256 = 0
        spot, cumulative = self._price0_now(pair)
        self._observe(pair, cumulative)


@internal
@view
def _off_twap(pair: address, count: uint256, spot: uint256, cumulative: uint256) -> bool:
    """Whether the pair's spot is further than the guard from its TWAP since the window's start."""
    first: uint256 = self._obs[pair][0]
    second: uint256 = self._obs[pair][1]
    start_word: uint256 = min(first, second)  # the older: timestamps are the high bits
    start: uint256 = start_word >> CUMULATIVE_BITS
    window: uint256 = (self._guards >> 16) & (2**64 - 1)
    assert start != 0 and block.timestamp - start >= window, concat(
        "executor: op ", uint2str(count), ": no price observation of its pair old enough for the TWAP guard"
    )
    summed: uint256 = unsafe_sub(cumulative, start_word) & CUMULATIVE_MASK
    twap: uint256 = summed // (block.timestamp - start)
    gap: uint256 = spot - twap if spot > twap else twap - spot
    return gap * FEE_DENOMINATOR > twap * (self._guards & 65535)


@external
@nonreentrant
def deposit(token: address, amount: uint256):
    """@notice Pull `amount` of `token` from the owner (approve this vault first)."""
    self._only_owner()
    assert extcall IERC20(token).transferFrom(msg.sender, self, amount, default_return_value=True), (
        "executor: transferFrom failed"
    )


@external
@nonreentrant
def withdraw(token: address, amount: uint256):
    """@notice Send `amount` of `token` (0: everything) to the owner: funds leave only to the owner."""
    self._only_owner()
    value: uint256 = amount
    if value == 0:
        value = staticcall IERC20(token).balanceOf(self)
    assert extcall IERC20(token).transfer(self.owner, value, default_return_value=True), "executor: transfer failed"
    log Withdrawn(token=token, amount=value)


# --- execution ----------------------------------------------------------------------------

@internal
@view
def _balance(token: address) -> uint256:
    return staticcall IERC20(token).balanceOf(self)


@internal
def _send(token: address, to: address, amount: uint256):
    assert extcall IERC20(token).transfer(to, amount, default_return_value=True), "executor: transfer failed"


@internal
@pure
def _amount_out(amount_in: uint256, reserve_in: uint256, reserve_out: uint256, fee_bps: uint256) -> uint256:
    in_with_fee: uint256 = amount_in * (FEE_DENOMINATOR - fee_bps)
    return in_with_fee * reserve_out // (reserve_in * FEE_DENOMINATOR + in_with_fee)


@internal
def _swap(pair: address, token_in: address, token_out: address, zero_for_one: bool, amount: uint256,
          fee_bps: uint256, fot_in: bool, fot_out: bool) -> uint256:
    """Swap `amount` (0: whole balance) of token_in on `pair`; returns what the vault received."""
    amount_in: uint256 = amount
    if amount_in == 0:
        amount_in = self._balance(token_in)
    assert amount_in != 0, "executor: nothing to swap"
    self._send(token_in, pair, amount_in)
    r0: uint112 = 0
    r1: uint112 = 0
    ts: uint32 = 0
    r0, r1, ts = staticcall IPair(pair).getReserves()
    reserve_in: uint256 = convert(r0, uint256)
    reserve_out: uint256 = convert(r1, uint256)
    if not zero_for_one:
        reserve_in = convert(r1, uint256)
        reserve_out = convert(r0, uint256)
    if fot_in:
        # price what the pair actually received
        amount_in = staticcall IERC20(token_in).balanceOf(pair) - reserve_in
    out: uint256 = self._amount_out(amount_in, reserve_in, reserve_out, fee_bps)
    assert out != 0, "executor: swap buys nothing"
    before: uint256 = 0
    if fot_out:
        before = self._balance(token_out)
    if zero_for_one:
        extcall IPair(pair).swap(0, out, self, b"")
    else:
        extcall IPair(pair).swap(out, 0, self, b"")
    if fot_out:
        return self._balance(token_out) - before
    return out


@internal
def _mint(pair: address, token0: address, token1: address, amount0: uint256, amount1: uint256) -> (uint256, uint256, uint256):
    """Mint with at most the amounts given (0: the whole balance), always matched to the pair's
    ratio (UniswapV2Router02._addLiquidity's rule): a mint never donates the excess of one side
    to the pool, whatever a stolen key signs. Returns (sent0, sent1, LP)."""
    a0: uint256 = amount0
    a1: uint256 = amount1
    if a0 == 0:
        a0 = self._balance(token0)
    if a1 == 0:
        a1 = self._balance(token1)
    r0: uint112 = 0
    r1: uint112 = 0
    ts: uint32 = 0
    r0, r1, ts = staticcall IPair(pair).getReserves()
    if r0 != 0 and r1 != 0:  # an empty pair takes the ratio it is given (its first mint sets the price)
        need1: uint256 = a0 * convert(r1, uint256) // convert(r0, uint256)
        if need1 <= a1:
            a1 = need1
        else:
            a0 = a1 * convert(r0, uint256) // convert(r1, uint256)
    assert a0 != 0 and a1 != 0, "executor: nothing to mint"
    self._send(token0, pair, a0)
    self._send(token1, pair, a1)
    return a0, a1, extcall IPair(pair).mint(self)


@internal
def _zap(pair: address, token0: address, token1: address, from0: bool, amount: uint256, fee_bps: uint256) -> uint256:
    """Single-sided deposit: swap the optimal part, mint the rest matched; dust stays in the vault."""
    token_in: address = token0 if from0 else token1
    amount_in: uint256 = amount
    if amount_in == 0:
        amount_in = self._balance(token_in)
    r0: uint112 = 0
    r1: uint112 = 0
    ts: uint32 = 0
    r0, r1, ts = staticcall IPair(pair).getReserves()
    reserve_in: uint256 = convert(r0 if from0 else r1, uint256)
    # s = (sqrt(((F+g) r)^2 + 4 g F a r) - (F+g) r) / (2 g), F = 10000, g = F - fee
    kept: uint256 = FEE_DENOMINATOR - fee_bps
    b: uint256 = (FEE_DENOMINATOR + kept) * reserve_in
    swap_in: uint256 = (isqrt(b * b + 4 * kept * FEE_DENOMINATOR * amount_in * reserve_in) - b) // (2 * kept)
    if from0:
        self._swap(pair, token0, token1, True, swap_in, fee_bps, False, False)
        return self._mint(pair, token0, token1, amount_in - swap_in, 0)[2]
    self._swap(pair, token1, token0, False, swap_in, fee_bps, False, False)
    return self._mint(pair, token0, token1, 0, amount_in - swap_in)[2]


@internal
def _produced(bundle: uint256, token: address, amount: uint256):
    self._carried[bundle][token] += amount


@internal
def _spent(bundle: uint256, token: address, amount: uint256):
    carried: uint256 = self._carried[bundle][token]
    self._carried[bundle][token] = carried - min(carried, amount)


@internal
@view
def _amount(bundle: uint256, token: address, field: uint256) -> uint256:
    """A field's amount: its low bits, or with its CARRY bit the token's carry plus (SHORT: less)
    them, and at least 1: a carry that came to nothing never reads as 0, "the whole balance",
    which would spend what other sleeves hold (the op then fails on its own minimum)."""
    if field & CARRY == 0:
        return field
    carried: uint256 = self._carried[bundle][token]
    if field & SHORT != 0:
        return max(carried - min(carried, field & AMOUNT_MASK), 1)
    return max(carried + (field & AMOUNT_MASK), 1)


@internal
def _run(ops: Bytes[MAX_OPS_BYTES], deadline: uint256) -> uint256:
    state: uint256 = self._keeper_state
    assert convert(msg.sender, uint256) == state & ADDRESS_MASK, "executor: not the keeper"
    assert state & PAUSED_BIT == 0, "executor: paused"
    assert block.timestamp <= deadline, "executor: expired"

    bundle: uint256 = self._bundles + 1
    self._bundles = bundle
    guards: uint256 = self._guards
    guarded: bool = guards & 65535 != 0
    cooldown: uint256 = (guards >> 80) & (2**64 - 1)
    if cooldown != 0:
        assert block.timestamp >= self.last_bundle_at + cooldown, "executor: cooling down"
        self.last_bundle_at = block.timestamp
    cap: uint256 = guards >> 144
    if cap != 0:
        today: uint256 = self._bundles_on_day
        day: uint256 = block.timestamp // DAY
        done: uint256 = today & (2**128 - 1) if today >> 128 == day else 0
        assert done < cap, "executor: the day's bundles are used up"
        self._bundles_on_day = (day << 128) | (done + 1)
    at: uint256 = 0
    count: uint256 = 0  # the record being run, from 1: reverts name it
    trades: uint256 = 0  # burns, swaps, mints and zaps (not floors)
    # the last PADDING bytes are zeros that keep every 32-byte read of a field in bounds
    assert len(ops) > PADDING, "executor: malformed ops"
    size: uint256 = len(ops) - PADDING
    for _: uint256 in range(MAX_OPS_BYTES):
        if at >= size:
            break
        op: uint256 = extract32(ops, at, output_type=uint256) >> 248
        pair: address = convert(convert(extract32(ops, at + 1, output_type=uint256) >> 96, uint160), address)
        count += 1
        if op == OP_FLOOR:
            assert self._balance(pair) >= (extract32(ops, at + 21, output_type=uint256) >> 128), concat(
                "executor: op ", uint2str(count), ": a balance ends below its floor: the bundle lost more than its bound"
            )
            at += 37
            continue
        word: uint256 = self._pair_word[pair]
        flags: uint256 = word >> FLAG_SHIFT
        assert flags & ALLOWED != 0, concat("executor: op ", uint2str(count), ": pair not allowed")
        if guarded and not self._seen[bundle][pair]:
            # the pair as the bundle finds it: its spot near its TWAP, then a fresh observation
            self._seen[bundle][pair] = True
            seen_spot: uint256 = 0
            seen_cumulative: uint256 = 0
            seen_spot, seen_cumulative = self._price0_now(pair)
            assert not self._off_twap(pair, count, seen_spot, seen_cumulative), concat(
                "executor: op ", uint2str(count), ": its pair's spot before the bundle is too far from its TWAP"
            )
            self._observe(pair, seen_cumulative)
            n: uint256 = self._touched_count[bundle]
            self._touched[bundle][n] = pair
            self._touched_count[bundle] = n + 1
        token0: address = convert(convert(word & ADDRESS_MASK, uint160), address)
        token1: address = self._pair_token1[pair]
        fee_bps: uint256 = (word >> FEE_SHIFT) & 65535
        fot0: bool = flags & FOT0 != 0
        fot1: bool = flags & FOT1 != 0
        at += 21

        if op == OP_BURN:
            liquidity: uint256 = (extract32(ops, at, output_type=uint256) >> 128)
            if liquidity == 0:
                liquidity = staticcall IPair(pair).balanceOf(self)
            before0: uint256 = 0
            before1: uint256 = 0
            if fot0 or fot1:
                before0 = self._balance(token0)
                before1 = self._balance(token1)
            assert extcall IPair(pair).transfer(pair, liquidity), "executor: LP transfer failed"
            out0: uint256 = 0
            out1: uint256 = 0
            out0, out1 = extcall IPair(pair).burn(self)
            if fot0 or fot1:
                out0 = self._balance(token0) - before0
                out1 = self._balance(token1) - before1
            self._produced(bundle, token0, out0)
            self._produced(bundle, token1, out1)
            assert out0 >= (extract32(ops, at + 16, output_type=uint256) >> 128), concat("executor: op ", uint2str(count), ": burn amount0 below minimum")
            assert out1 >= (extract32(ops, at + 32, output_type=uint256) >> 128), concat("executor: op ", uint2str(count), ": burn amount1 below minimum")
            at += 48
        elif op == OP_SWAP0 or op == OP_SWAP1:
            zero_for_one: bool = op == OP_SWAP0
            sold: address = token0 if zero_for_one else token1
            bought: address = token1 if zero_for_one else token0
            amount_in: uint256 = self._amount(bundle, sold, extract32(ops, at, output_type=uint256) >> 128)
            if amount_in == 0:
                amount_in = self._balance(sold)
            got: uint256 = 0
            if zero_for_one:
                got = self._swap(pair, token0, token1, True, amount_in, fee_bps, fot0, fot1)
            else:
                got = self._swap(pair, token1, token0, False, amount_in, fee_bps, fot1, fot0)
            self._spent(bundle, sold, amount_in)
            self._produced(bundle, bought, got)
            assert got >= (extract32(ops, at + 16, output_type=uint256) >> 128), concat("executor: op ", uint2str(count), ": swap output below minimum")
            at += 32
        elif op == OP_MINT:
            assert not (fot0 or fot1), concat("executor: op ", uint2str(count), ": mint on a fee-on-transfer pair")
            field0: uint256 = extract32(ops, at, output_type=uint256) >> 128
            field1: uint256 = extract32(ops, at + 16, output_type=uint256) >> 128
            used0: uint256 = 0
            used1: uint256 = 0
            minted: uint256 = 0
            used0, used1, minted = self._mint(
                pair, token0, token1, self._amount(bundle, token0, field0), self._amount(bundle, token1, field1)
            )
            self._spent(bundle, token0, used0)
            self._spent(bundle, token1, used1)
            assert minted >= (extract32(ops, at + 32, output_type=uint256) >> 128), concat("executor: op ", uint2str(count), ": liquidity below minimum")
            at += 48
        elif op == OP_ZAP0 or op == OP_ZAP1:
            assert not (fot0 or fot1), concat("executor: op ", uint2str(count), ": zap on a fee-on-transfer pair")
            zap_in: address = token0 if op == OP_ZAP0 else token1
            zap_amount: uint256 = self._amount(bundle, zap_in, extract32(ops, at, output_type=uint256) >> 128)
            if zap_amount == 0:
                zap_amount = self._balance(zap_in)
            zapped: uint256 = self._zap(pair, token0, token1, op == OP_ZAP0, zap_amount, fee_bps)
            self._spent(bundle, zap_in, zap_amount)
            assert zapped >= (extract32(ops, at + 16, output_type=uint256) >> 128), concat("executor: op ", uint2str(count), ": liquidity below minimum")
            at += 32
        else:
            raise concat("executor: op ", uint2str(count), ": unknown op")
        trades += 1

    assert at == size, "executor: malformed ops"
    if guarded:
        for i: uint256 in range(MAX_TOUCHED):
            if i >= self._touched_count[bundle]:
                break
            touched: address = self._touched[bundle][i]
            after_spot: uint256 = 0
            after_cumulative: uint256 = 0
            after_spot, after_cumulative = self._price0_now(touched)
            assert not self._off_twap(touched, count, after_spot, after_cumulative), concat(
                "executor: op ", uint2str(count), ": a pair's spot after the bundle is too far from its TWAP"
            )
    return trades


@external
@nonreentrant
def execute(ops: Bytes[MAX_OPS_BYTES], deadline: uint256, bundle_id: bytes32):
    """@notice Run a bundle of packed ops atomically; the keeper only. One event per bundle."""
    count: uint256 = self._run(ops, deadline)
    log Executed(bundle_id=bundle_id, ops=count)


@external
@nonreentrant
def simulate(
    ops: Bytes[MAX_OPS_BYTES], deadline: uint256, tokens: DynArray[address, MAX_SIM_TOKENS]
) -> DynArray[uint256, MAX_SIM_TOKENS]:
    """
    @notice For eth_call: run the bundle like `execute`, then return the vault's balance of
            each of `tokens` (tokens or LP). Keeper only, with every check of `execute`.
    """
    self._run(ops, deadline)
    balances: DynArray[uint256, MAX_SIM_TOKENS] = []
    for token: address in tokens:
        balances.append(self._balance(token))
    return balances

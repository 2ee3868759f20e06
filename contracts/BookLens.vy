#pragma version ~=0.4.3
#pragma evm-version shanghai
"""
@title BookLens
@notice Reads a whole book of Uniswap V2 pairs in one eth_call, deployless:
        the constructor never finishes a deployment, it reverts with
        `BookSnapshot()` ++ abi_encode(BookRead). Run it as an eth_call with no
        `to`, the initcode plus constructor arguments as data, at any block.
@dev Every read is a static raw_call with a gas bound and a checked answer
     length, so a bad address (an EOA, a non-pair contract, a token without
     decimals, a gas bomb) only sets flags on its own record; it never
     reverts or starves the rest of the book.
"""

MAX_PAIRS: constant(uint256) = 256
MAX_EXTRA_TOKENS: constant(uint256) = 64
# every distinct token of every pair, plus the extra ones
MAX_TOKENS: constant(uint256) = 2 * MAX_PAIRS + MAX_EXTRA_TOKENS
SUBCALL_GAS: constant(uint256) = 100_000
# enough for an ABI string of up to 32 bytes (offset, length, data); longer
# symbols come back truncated and are decoded leniently off-chain
SYMBOL_BYTES: constant(uint256) = 96

# pair flags: which read failed or answered with something malformed
PAIR_NO_CODE: constant(uint256) = 1
PAIR_TOKEN0: constant(uint256) = 2
PAIR_TOKEN1: constant(uint256) = 4
PAIR_RESERVES: constant(uint256) = 8
PAIR_TOTAL_SUPPLY: constant(uint256) = 16
PAIR_K_LAST: constant(uint256) = 32
PAIR_PRICE0_CUMULATIVE: constant(uint256) = 64
PAIR_PRICE1_CUMULATIVE: constant(uint256) = 128
PAIR_HOLDER_LP: constant(uint256) = 256
PAIR_FACTORY: constant(uint256) = 512
PAIR_FEE_TO: constant(uint256) = 1024

# token flags
TOKEN_NO_CODE: constant(uint256) = 1
TOKEN_DECIMALS: constant(uint256) = 2
TOKEN_SYMBOL: constant(uint256) = 4
TOKEN_BALANCE: constant(uint256) = 8

ADDRESS_LIMIT: constant(uint256) = 2**160


struct PairRead:
    pair: address
    flags: uint256
    factory: address
    # the factory's protocol-fee recipient: mints and burns pay the protocol fee when it is set
    fee_to: address
    token0: address
    token1: address
    reserve0: uint256
    reserve1: uint256
    block_timestamp_last: uint256
    total_supply: uint256
    k_last: uint256
    price0_cumulative_last: uint256
    price1_cumulative_last: uint256
    holder_lp: uint256


struct TokenRead:
    token: address
    flags: uint256
    decimals: uint256
    holder_balance: uint256
    symbol: Bytes[SYMBOL_BYTES]


struct BookRead:
    block_number: uint256
    block_timestamp: uint256
    base_fee: uint256
    chain_id: uint256
    holder: address
    holder_native: uint256
    pairs: DynArray[PairRead, MAX_PAIRS]
    tokens: DynArray[TokenRead, MAX_TOKENS]


@internal
@view
def _word(target: address, calldata: Bytes[36]) -> (bool, uint256):
    ok: bool = False
    answer: Bytes[32] = b""
    ok, answer = raw_call(
        target, calldata, max_outsize=32, gas=SUBCALL_GAS, is_static_call=True, revert_on_failure=False
    )
    if not ok or len(answer) != 32:
        return False, 0
    return True, extract32(answer, 0, output_type=uint256)


@internal
@view
def _address(target: address, selector: Bytes[4]) -> (bool, address):
    ok: bool = False
    word: uint256 = 0
    ok, word = self._word(target, selector)
    # a dirty high part means this is not an address getter of a real pair
    if not ok or word >= ADDRESS_LIMIT:
        return False, empty(address)
    return True, convert(convert(word, uint160), address)


@internal
@view
def _read_pair(pair: address, holder: address) -> PairRead:
    r: PairRead = empty(PairRead)
    r.pair = pair
    if not pair.is_contract:
        r.flags = PAIR_NO_CODE
        return r
    ok: bool = False
    ok, r.token0 = self._address(pair, method_id("token0()"))
    if not ok:
        r.flags |= PAIR_TOKEN0
    ok, r.token1 = self._address(pair, method_id("token1()"))
    if not ok:
        r.flags |= PAIR_TOKEN1
    ok, r.factory = self._address(pair, method_id("factory()"))
    if not ok:
        r.flags |= PAIR_FACTORY
    else:
        ok, r.fee_to = self._address(r.factory, method_id("feeTo()"))
        if not ok:
            r.flags |= PAIR_FEE_TO

    reserves: Bytes[96] = b""
    ok, reserves = raw_call(
        pair, method_id("getReserves()"), max_outsize=96, gas=SUBCALL_GAS, is_static_call=True,
        revert_on_failure=False
    )
    if ok and len(reserves) == 96:
        r.reserve0 = extract32(reserves, 0, output_type=uint256)
        r.reserve1 = extract32(reserves, 32, output_type=uint256)
        r.block_timestamp_last = extract32(reserves, 64, output_type=uint256)
    else:
        r.flags |= PAIR_RESERVES

    ok, r.total_supply = self._word(pair, method_id("totalSupply()"))
    if not ok:
        r.flags |= PAIR_TOTAL_SUPPLY
    ok, r.k_last = self._word(pair, method_id("kLast()"))
    if not ok:
        r.flags |= PAIR_K_LAST
    ok, r.price0_cumulative_last = self._word(pair, method_id("price0CumulativeLast()"))
    if not ok:
        r.flags |= PAIR_PRICE0_CUMULATIVE
    ok, r.price1_cumulative_last = self._word(pair, method_id("price1CumulativeLast()"))
    if not ok:
        r.flags |= PAIR_PRICE1_CUMULATIVE
    ok, r.holder_lp = self._word(pair, concat(method_id("balanceOf(address)"), abi_encode(holder)))
    if not ok:
        r.flags |= PAIR_HOLDER_LP
    return r


@internal
@view
def _read_token(token: address, holder: address) -> TokenRead:
    r: TokenRead = empty(TokenRead)
    r.token = token
    if not token.is_contract:
        r.flags = TOKEN_NO_CODE
        return r
    ok: bool = False
    ok, r.decimals = self._word(token, method_id("decimals()"))
    if not ok or r.decimals > 255:
        r.flags |= TOKEN_DECIMALS
        r.decimals = 0
    ok, r.holder_balance = self._word(token, concat(method_id("balanceOf(address)"), abi_encode(holder)))
    if not ok:
        r.flags |= TOKEN_BALANCE
    # raw answer: an ABI string or a bytes32 (MKR style); decoded off-chain
    ok, r.symbol = raw_call(
        token, method_id("symbol()"), max_outsize=SYMBOL_BYTES, gas=SUBCALL_GAS, is_static_call=True,
        revert_on_failure=False
    )
    if not ok:
        r.flags |= TOKEN_SYMBOL
        r.symbol = b""
    return r


@deploy
def __init__(
    pairs: DynArray[address, MAX_PAIRS], extra_tokens: DynArray[address, MAX_EXTRA_TOKENS], holder: address
):
    book: BookRead = empty(BookRead)
    book.block_number = block.number
    book.block_timestamp = block.timestamp
    # NOTE: geth zeroes BASEFEE inside eth_call when no gas price is given; anvil does not.
    book.base_fee = block.basefee
    book.chain_id = chain.id
    book.holder = holder
    book.holder_native = holder.balance

    seen: DynArray[address, MAX_TOKENS] = []
    for pair: address in pairs:
        r: PairRead = self._read_pair(pair, holder)
        book.pairs.append(r)
        if r.flags & PAIR_TOKEN0 == 0 and r.flags & PAIR_NO_CODE == 0 and r.token0 not in seen:
            seen.append(r.token0)
        if r.flags & PAIR_TOKEN1 == 0 and r.flags & PAIR_NO_CODE == 0 and r.token1 not in seen:
            seen.append(r.token1)
    for token: address in extra_tokens:
        if token not in seen:
            seen.append(token)
    for token: address in seen:
        book.tokens.append(self._read_token(token, holder))

    raw_revert(concat(method_id("BookSnapshot()"), abi_encode(book)))

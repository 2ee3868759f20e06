"""The packed op encoding: exact sizes, round trips, refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.errors import BadInput
from bot.core.executor_ops import MAX_FIELD, Burn, Mint, Op, Swap, Zap, decode_ops, encode_op, encode_ops

pairs = st.binary(min_size=20, max_size=20).map(lambda raw: "0x" + raw.hex())
amounts = st.integers(0, MAX_FIELD)
ops = st.one_of(
    st.builds(Burn, pairs, amounts, amounts, amounts),
    st.builds(Swap, pairs, st.booleans(), amounts, amounts),
    st.builds(Mint, pairs, amounts, amounts, amounts),
    st.builds(Zap, pairs, st.booleans(), amounts, amounts),
)


@given(st.lists(ops, min_size=1, max_size=20))
def test_ops_round_trip(bundle: list[Op]) -> None:
    packed = encode_ops(bundle)
    decoded = decode_ops(packed)
    assert [encode_op(op) for op in decoded] == [encode_op(op) for op in bundle]


def test_ops_are_packed_tight() -> None:
    pair = "0x" + "22" * 20
    assert len(encode_op(Burn(pair, 1, 2, 3))) == 1 + 20 + 3 * 16
    assert len(encode_op(Swap(pair, True, 1, 2))) == 1 + 20 + 2 * 16
    assert encode_op(Swap(pair, False, 1, 2))[0] != encode_op(Swap(pair, True, 1, 2))[0]


def test_bad_ops_are_refused() -> None:
    pair = "0x" + "22" * 20
    with pytest.raises(BadInput, match="does not fit 16 bytes"):
        encode_ops([Swap(pair, True, MAX_FIELD + 1, 0)])
    with pytest.raises(BadInput, match="at least one op"):
        encode_ops([])
    with pytest.raises(BadInput, match="unknown op code 9"):
        decode_ops(bytes([9]) + bytes(52))
    with pytest.raises(BadInput, match="over 4096"):
        encode_ops([Burn(pair, 1, 1, 1)] * 60)

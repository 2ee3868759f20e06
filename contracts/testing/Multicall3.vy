#pragma version ~=0.4.3
#pragma evm-version cancun
"""
@title Multicall3 (aggregate3 only)
@notice Benchmark fixture: the interface of Multicall3's `aggregate3` (the contract at
        0xcA11bde05977b3631167028862bE2a173976CA11 on nearly every chain), written here, so
        that the read a user would pick on a real chain can be measured against ours on the
        local world. Calls run in order; a failing call with allowFailure reverts the batch
        otherwise, as in the original. Batches of at most 256 calls, returns of at most 128 bytes.
"""

MAX_CALLS: constant(uint256) = 256


struct Call3:
    target: address
    allowFailure: bool
    callData: Bytes[128]


struct Result:
    success: bool
    returnData: Bytes[128]


@external
@view
def aggregate3(calls: DynArray[Call3, MAX_CALLS]) -> DynArray[Result, MAX_CALLS]:
    results: DynArray[Result, MAX_CALLS] = []
    for call: Call3 in calls:
        success: bool = False
        data: Bytes[128] = b""
        success, data = raw_call(call.target, call.callData, max_outsize=128, is_static_call=True, revert_on_failure=False)
        assert success or call.allowFailure, "Multicall3: call failed"
        results.append(Result(success=success, returnData=data))
    return results

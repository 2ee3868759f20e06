"""The exception tree. One base, `KeeperError`; bad input also subclasses `ValueError`.

Each error says what kind it is, and the commands exit by kind: `BadInput` (and `BookReadError`)
2, something a person must fix; `Transient` 75 (EX_TEMPFAIL), something that may pass by itself
(an RPC failure, a pending transaction: systemd restarts the keeper on it); any other
`KeeperError` 1, a mismatch or a refusal. IO errors are raised `from` their cause and name what
failed (address, endpoint, block).
"""

from __future__ import annotations

from pydantic import ValidationError


class KeeperError(Exception):
    """Base of every error ammkeeper raises on purpose."""


class BadInput(KeeperError, ValueError):
    """Something the user gave us (config, argument, address) is wrong. CLI exit code 2."""


class MathError(KeeperError, ValueError):
    """An AMM computation was asked for something the pair itself would refuse."""


class BookReadError(KeeperError, ValueError):
    """One address of the book cannot be read as what it was said to be.

    Attributes:
        address: the checksummed address at fault.
    """

    def __init__(self, address: str, problem: str) -> None:
        super().__init__(f"{address}: {problem}")
        self.address = address
        self.problem = problem


class NotAPair(BookReadError):
    """The address is not a Uniswap V2 pair (no code, or a call a pair answers failed)."""


class TokenWithoutDecimals(BookReadError):
    """A token of the pair has no usable `decimals()`."""


class EmptyPair(BookReadError):
    """The pair exists but holds no liquidity, so it has no price."""


class Transient(KeeperError):
    """A failure that may pass by itself: try again later (exit code 75)."""


class RpcError(Transient):
    """A JSON-RPC endpoint failed, timed out, or answered something unusable."""


class LensFailed(RpcError):
    """The deployless book lens did not return a snapshot."""


class Pending(Transient):
    """A transaction of the book is still pending: nothing new may be planned."""

    run_status = "waiting"


class StillPending(Pending):
    """A journaled transaction of the book is in the node's pool, not yet mined (it may be replaced).

    Attributes:
        intent_id: the intent it belongs to.
    """

    def __init__(self, message: str, intent_id: int) -> None:
        super().__init__(message)
        self.intent_id = intent_id


class NodeError(KeeperError):
    """A local anvil node could not be started, reached, or stopped."""


def describe(exc: ValidationError) -> str:
    """The first error of a pydantic validation as 'where: what'."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"] if not str(part).startswith("function-"))
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    return f"{where}: {message}" if where else message

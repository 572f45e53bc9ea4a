"""The embedded rollup core: a pure, deterministic L2 state machine (no I/O, no trio).

Public API: ``pubdata`` (ops and their bytes), ``hashes`` (commitment, opsHash, syncHash,
final_root, public inputs), ``state`` (accounts, params, op semantics), ``block``
(``build_block``, ``Replayer``, ``replay``). See docs/rollup.md.
"""

from oracle_node.rollup.block import (
    BlockResult,
    Expected,
    Replayer,
    ReplayMismatch,
    build_block,
    replay,
)
from oracle_node.rollup.pubdata import (
    OP_BYTES,
    Deposit,
    FullExit,
    Noop,
    Op,
    PubdataError,
    Transfer,
    Withdraw,
)
from oracle_node.rollup.state import Account, InvalidOperation, RollupParams, State

__all__ = [
    "OP_BYTES",
    "Account",
    "BlockResult",
    "Deposit",
    "Expected",
    "FullExit",
    "InvalidOperation",
    "Noop",
    "Op",
    "PubdataError",
    "ReplayMismatch",
    "Replayer",
    "RollupParams",
    "State",
    "Transfer",
    "Withdraw",
    "build_block",
    "replay",
]

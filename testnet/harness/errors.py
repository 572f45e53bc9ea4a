"""Exceptions of the testnet harness and sequencer (tooling, not the node)."""

from __future__ import annotations

from oracle_node.errors import OracleNodeError


class HarnessError(OracleNodeError):
    """Raised when the testnet harness cannot start, supervise or stop part of a cluster."""


class SequencerError(HarnessError):
    """Raised when the testnet sequencer cannot build, prove, commit or execute a block."""


class ChainCallError(HarnessError):
    """Raised when a transaction sent by the tooling reverts or an RPC call fails."""

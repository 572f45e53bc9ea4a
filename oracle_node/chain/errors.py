"""Typed failures of the chain adapters (all subclasses of ``oracle_node.errors.ChainError``).

A malformed answer from one endpoint is counted and the call fails over; these exceptions
reach the caller only when every endpoint (and every retry) failed, or an invariant broke.
"""

from __future__ import annotations

from oracle_node.errors import ChainError


class RpcTransportError(ChainError):
    """Raised when an endpoint cannot be reached (connection refused/reset, HTTP status != 200)."""


class RpcTimeout(ChainError):
    """Raised when an endpoint did not answer within the call's deadline."""


class RpcResponseError(ChainError):
    """Raised when an answer is not valid JSON-RPC or a field has the wrong shape (malformed)."""


class RpcRemoteError(ChainError):
    """Raised when the endpoint answered a JSON-RPC error object (a revert, nonce too low, …).

    This is a real answer, not an endpoint fault: it is not retried on other endpoints.
    """

    def __init__(self, code: int, message: str, data: object = None) -> None:
        super().__init__(f"rpc error {code}: {message}")
        self.code = code
        self.message = message
        self.data = data


class WrongChainId(ChainError):
    """Raised when an endpoint reports an EVM chain id other than the configured one."""


class QuorumNotReached(ChainError):
    """Raised when fewer than k of the m endpoints returned the same answer for a quorum read."""


class NoHealthyEndpoint(ChainError):
    """Raised when every endpoint failed a call after all retries."""


class NonceLedgerError(ChainError):
    """Raised when the persistent nonce ledger is unusable or contradicts itself."""

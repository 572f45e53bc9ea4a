"""Exceptions of the ceremony package (all subclasses of ``OracleNodeError``)."""

from oracle_node.errors import OracleNodeError


class CeremonyError(OracleNodeError):
    """Root of the ceremony errors."""


class DefinitionError(CeremonyError):
    """Raised when a cluster-definition file is malformed or inconsistent."""


class CeremonyStateError(CeremonyError):
    """Raised when a persisted ceremony state cannot be read, decrypted or does not match."""


class CeremonyFailed(CeremonyError):
    """Raised when a ceremony ends without a result; ``evidence`` says which member did what."""

    def __init__(self, message: str, evidence: tuple[tuple[int, str, str], ...] = ()) -> None:
        super().__init__(message)
        self.evidence = evidence
        """(dealer index, reason, detail) of every disqualified dealer."""


class ProposalError(CeremonyError):
    """Raised when a ``SignerSetProposed`` log cannot be decoded or is unusable."""

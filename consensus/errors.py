"""Exception hierarchy of the consensus core.

Every error raised by ``consensus`` on bad input is a subclass of :class:`ConsensusError`, so a
caller at the network edge can catch one type, count the rejection and move on.
"""


class ConsensusError(Exception):
    """Root of every exception raised by ``consensus``."""


class EncodingError(ConsensusError):
    """Raised when bytes do not decode to a valid key, signature, point or scalar."""


class InvalidLengthError(EncodingError):
    """Raised when an encoding has the wrong number of bytes."""


class NotOnCurveError(EncodingError):
    """Raised when an encoded point is malformed or its coordinates are not on the curve."""


class NotInSubgroupError(EncodingError):
    """Raised when an encoded point is on the curve but outside the prime-order subgroup."""


class IdentityPointError(EncodingError):
    """Raised when a key or signature encodes the point at infinity."""


class InvalidScalarError(EncodingError):
    """Raised when a secret scalar is zero or not below the group order."""


class UnknownBackendError(ConsensusError):
    """Raised by ``get_backend`` for a name that is not a known BLS backend."""


class ThresholdError(ConsensusError):
    """Raised when threshold parameters or share sets are invalid."""


class DuplicateIndexError(ThresholdError):
    """Raised when two shares or partial signatures carry the same member index."""


class IndexOutOfRangeError(ThresholdError):
    """Raised when a member index is outside ``1..n`` (or not a positive integer)."""


class NotEnoughSharesError(ThresholdError):
    """Raised when fewer than ``threshold`` partials or shares are supplied to a combination."""


class DkgError(ConsensusError):
    """Raised when a DKG/resharing ceremony is misconfigured or cannot complete."""


class DkgMessageError(DkgError):
    """Raised when a DKG message from a peer cannot be decoded or is structurally invalid."""


class DkgStateError(DkgError):
    """Raised when serialised DKG state cannot be restored."""


class CeremonyFailedError(DkgError):
    """Raised when a ceremony ends with fewer qualified dealers than the threshold."""


class KeystoreError(ConsensusError):
    """Raised when an EIP-2335 keystore is malformed or uses an unsupported function."""


class WrongPasswordError(KeystoreError):
    """Raised when a keystore checksum does not match: the password is wrong."""


class ClusterLockError(ConsensusError):
    """Raised when a cluster lock document is malformed or its hash does not match."""

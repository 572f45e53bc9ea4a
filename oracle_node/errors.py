"""The node's exception hierarchy.

A bad message from a peer or a chain is a *value* (a rejection reason that is counted);
these exceptions are for broken invariants, bad local configuration and failed I/O that
the caller must handle. Every class says when it is raised; wrap causes with ``from err``.
"""


class OracleNodeError(Exception):
    """Root of every exception raised by ``oracle_node``."""


class ConfigError(OracleNodeError):
    """Raised when a config file or CLI option is missing, malformed or inconsistent."""


class ToolchainError(OracleNodeError):
    """Raised when a required external tool (anvil, a compiler) is missing or unusable."""


class RollupError(OracleNodeError):
    """Raised by the rollup core when an operation or pubdata is invalid for the state."""


class ProverError(OracleNodeError):
    """Raised when circuit compilation, setup, proving or verification fails."""


class ChainError(OracleNodeError):
    """Raised by chain adapters when an RPC call fails after retries or answers nonsense."""


class P2PError(OracleNodeError):
    """Raised by the p2p adapter when the host cannot start, dial or serve a protocol."""


class StoreError(OracleNodeError):
    """Raised when the embedded database is unusable or its contents break an invariant."""


class SlashingProtectionError(StoreError):
    """Raised when a signature is requested for a (block, epoch) already signed differently."""

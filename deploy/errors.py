"""Exception hierarchy of the deployment and governance tooling."""


class DeployError(Exception):
    """Root of every exception raised by ``deploy``."""


class CompileError(DeployError):
    """Raised when a contract fails to render or compile."""


class ChainUnsupportedError(DeployError):
    """Raised when a chain lacks something the contracts need (e.g. EIP-2537 precompiles)."""

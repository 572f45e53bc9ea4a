"""Exception hierarchy of the deployment and governance tooling."""


class DeployError(Exception):
    """Root of every exception raised by ``deploy``."""


class CompileError(DeployError):
    """Raised when a contract fails to render or compile."""


class ChainUnsupportedError(DeployError):
    """Raised when a chain lacks something the contracts need (e.g. EIP-2537 precompiles)."""


class BindingError(DeployError):
    """Raised when a value cannot be encoded for, or a log decoded from, the contracts."""


class DeploymentError(DeployError):
    """Raised when a deployment description is invalid or a deploy transaction fails."""


class RpcError(DeployError):
    """Raised when a JSON-RPC call of the tooling fails or answers nonsense."""


class ContractRevertError(RpcError):
    """Raised when a call or transaction reverts; ``reason`` is the revert string if any."""

    def __init__(self, reason: str | None, data: bytes, message: str) -> None:
        super().__init__(f"{message} (reason: {reason})")
        self.reason = reason
        self.data = data

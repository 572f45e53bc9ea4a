# pragma version ~=0.4.3
"""
@title Minimal timelock governor: schedule a call, execute it after a fixed delay
@notice The gate's `governor` can be this contract; its `admin` (an account or a multisig)
        schedules and executes. Every step is an event carrying the full call.
"""

MAX_CALLDATA: constant(uint256) = 131072

event CallScheduled:
    id: indexed(bytes32)
    target: indexed(address)
    value: uint256
    data: Bytes[MAX_CALLDATA]
    salt: bytes32
    eta: uint256

event CallExecuted:
    id: indexed(bytes32)
    target: indexed(address)

event CallCancelled:
    id: indexed(bytes32)

admin: public(address)
delay: public(uint256)
eta_of: public(HashMap[bytes32, uint256])


@deploy
def __init__(admin: address, delay: uint256):
    assert admin != empty(address), "ZeroAdmin"
    self.admin = admin
    self.delay = delay


@internal
@view
def _only_admin():
    if msg.sender != self.admin:
        raise "NotAdmin"


@view
@external
def callId(target: address, amount: uint256, data: Bytes[MAX_CALLDATA], salt: bytes32) -> bytes32:
    """@notice Identifier of a scheduled call."""
    return keccak256(abi_encode(target, amount, data, salt))


@external
def schedule(target: address, amount: uint256, data: Bytes[MAX_CALLDATA], salt: bytes32) -> bytes32:
    """@notice Admin: queue a call executable after `delay` seconds."""
    self._only_admin()
    call_id: bytes32 = keccak256(abi_encode(target, amount, data, salt))
    if self.eta_of[call_id] != 0:
        raise "AlreadyScheduled"
    eta: uint256 = block.timestamp + self.delay
    self.eta_of[call_id] = eta
    log CallScheduled(id=call_id, target=target, value=amount, data=data, salt=salt, eta=eta)
    return call_id


@payable
@external
def execute(target: address, amount: uint256, data: Bytes[MAX_CALLDATA], salt: bytes32):
    """@notice Admin: run a queued call whose delay has passed (reverts bubble up)."""
    self._only_admin()
    call_id: bytes32 = keccak256(abi_encode(target, amount, data, salt))
    eta: uint256 = self.eta_of[call_id]
    if eta == 0:
        raise "NotScheduled"
    if block.timestamp < eta:
        raise "DelayNotPassed"
    self.eta_of[call_id] = 0
    raw_call(target, data, value=amount)
    log CallExecuted(id=call_id, target=target)


@external
def cancel(call_id: bytes32):
    """@notice Admin: drop a queued call."""
    self._only_admin()
    if self.eta_of[call_id] == 0:
        raise "NotScheduled"
    self.eta_of[call_id] = 0
    log CallCancelled(id=call_id)

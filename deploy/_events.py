"""Events of the main contract (gate included) and of the governance chain's
``signer_sets.vy``: their frozen values and :func:`decode_log` (re-exported by
``deploy.bindings``, which is the module to import).

One table, :data:`_EVENTS`, gives each event's class and its arguments as the contract
declares them; the signatures, topics and the decoder are derived from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from deploy.errors import BindingError


@dataclass(frozen=True)
class DepositQueued:
    """``DepositQueued`` (docs/protocol.md §5)."""

    serial_id: int
    owner: str
    token: int
    amount: int
    expiry_block: int


@dataclass(frozen=True)
class FullExitQueued:
    """``FullExitQueued``."""

    serial_id: int
    owner: str
    account_id: int
    token: int
    expiry_block: int


@dataclass(frozen=True)
class BlockCommitted:
    """``BlockCommitted``: the block's DA data (pubdata) and every chain's ops hash."""

    block_number: int
    commitment: bytes
    sync_hash: bytes
    new_state_root: bytes
    pubdata: bytes
    ops_hashes: tuple[bytes, ...]


@dataclass(frozen=True)
class BlockProven:
    """``BlockProven``: the chain's proved final_root of the block."""

    block_number: int
    final_root: bytes
    new_state_root: bytes


@dataclass(frozen=True)
class BlockExecuted:
    """``BlockExecuted``."""

    block_number: int


@dataclass(frozen=True)
class BlocksReverted:
    """``BlocksReverted``: blocks ``from_block..to_block`` (inclusive) were reverted."""

    from_block: int
    to_block: int


@dataclass(frozen=True)
class ExodusMode:
    """``ExodusMode``: request ``serial_id`` expired and the contract stopped."""

    serial_id: int
    expiry_block: int


@dataclass(frozen=True)
class PendingBalanceWithdrawn:
    """``PendingBalanceWithdrawn``: ``owner`` was paid ``amount`` of ``token``."""

    owner: str
    token: int
    amount: int


@dataclass(frozen=True)
class ValidatorSet:
    """``ValidatorSet``."""

    validator: str
    active: bool


@dataclass(frozen=True)
class TokenRegistered:
    """``TokenRegistered``."""

    token: int
    token_address: str


@dataclass(frozen=True)
class FinalRootConfirmed:
    """``FinalRootConfirmed``: the gate accepted the group signature for ``block_number``
    (and so confirmed every earlier block too)."""

    block_number: int
    final_root: bytes
    epoch: int
    submitter: str


@dataclass(frozen=True)
class GroupKeyReplaced:
    """``GroupKeyReplaced``: ``group_key`` (96-byte compressed) signs from ``epoch`` on."""

    epoch: int
    group_key: bytes


@dataclass(frozen=True)
class GroupKeyReplacementScheduled:
    """``GroupKeyReplacementScheduled``: emergency replacement executable from ``eta``."""

    epoch: int
    group_key: bytes
    eta: int


@dataclass(frozen=True)
class GroupKeyReplacementCancelled:
    """``GroupKeyReplacementCancelled``."""

    epoch: int


@dataclass(frozen=True)
class ConfirmationsPaused:
    """``ConfirmationsPaused``."""


@dataclass(frozen=True)
class ConfirmationsUnpaused:
    """``ConfirmationsUnpaused``."""


@dataclass(frozen=True)
class GovernorChanged:
    """``GovernorChanged``."""

    previous: str
    governor: str


@dataclass(frozen=True)
class SignerSetProposed:
    """``SignerSetProposed`` of the governance chain's ``signer_sets`` contract."""

    epoch: int
    proposal_id: int
    threshold: int
    activation_block: int
    peer_ids: tuple[bytes, ...]
    member_keys: tuple[bytes, ...]
    pops: tuple[bytes, ...]


MainEvent = (DepositQueued | FullExitQueued | BlockCommitted | BlockProven | BlockExecuted
             | BlocksReverted | ExodusMode | PendingBalanceWithdrawn | ValidatorSet
             | TokenRegistered | FinalRootConfirmed | GroupKeyReplaced
             | GroupKeyReplacementScheduled | GroupKeyReplacementCancelled | ConfirmationsPaused
             | ConfirmationsUnpaused | GovernorChanged | SignerSetProposed)

"""Any event of the main contract (gate included) or of ``signer_sets`` decoded by
:func:`decode_log`."""


@dataclass(frozen=True)
class _EventAbi:
    """An event's class and its ``(ABI type, indexed)`` arguments in the ABI's order (indexed
    arguments are not all first)."""

    cls: type[Any]
    inputs: tuple[tuple[str, bool], ...]

    @property
    def indexed(self) -> tuple[str, ...]:
        """The types of the topics after topic0."""
        return tuple(t for t, is_indexed in self.inputs if is_indexed)

    @property
    def data(self) -> tuple[str, ...]:
        """The types ABI-encoded in the log's data."""
        return tuple(t for t, is_indexed in self.inputs if not is_indexed)

    @property
    def kinds(self) -> tuple[str, ...]:
        """``"i"`` (indexed) or ``"d"`` (data) per argument, in the ABI's order."""
        return tuple("i" if is_indexed else "d" for _t, is_indexed in self.inputs)

    def signature(self, name: str) -> str:
        """The canonical signature ``name(type,...)``."""
        return f"{name}({','.join(t for t, _i in self.inputs)})"

    def build(self, indexed: list[Any], data: list[Any]) -> MainEvent:
        """The event value from its decoded topics and data, merged in the ABI's order."""
        it_i, it_d = iter(indexed), iter(data)
        event: MainEvent = self.cls(*[next(it_i) if is_indexed else next(it_d)
                                      for _t, is_indexed in self.inputs])
        return event


def _abi(cls: type[Any], spec: str = "") -> _EventAbi:
    """``spec`` lists the arguments as the contract declares them, e.g.
    ``"indexed uint64, indexed address, uint16"``."""
    args = [a.strip() for a in spec.split(",") if a.strip()]
    return _EventAbi(cls, tuple((a.removeprefix("indexed ").strip(), a.startswith("indexed "))
                                for a in args))


_EVENTS: dict[str, _EventAbi] = {
    "DepositQueued": _abi(DepositQueued,
                          "indexed uint64, indexed address, uint16, uint128, uint256"),
    "FullExitQueued": _abi(FullExitQueued,
                           "indexed uint64, indexed address, uint32, uint16, uint256"),
    "BlockCommitted": _abi(BlockCommitted,
                           "indexed uint256, bytes32, bytes32, bytes32, bytes, bytes32[]"),
    "BlockProven": _abi(BlockProven, "indexed uint256, bytes32, bytes32"),
    "BlockExecuted": _abi(BlockExecuted, "indexed uint256"),
    "BlocksReverted": _abi(BlocksReverted, "uint256, uint256"),
    "ExodusMode": _abi(ExodusMode, "indexed uint64, uint256"),
    "PendingBalanceWithdrawn": _abi(PendingBalanceWithdrawn, "indexed address, uint16, uint128"),
    "ValidatorSet": _abi(ValidatorSet, "indexed address, bool"),
    "TokenRegistered": _abi(TokenRegistered, "uint16, address"),
    "FinalRootConfirmed": _abi(FinalRootConfirmed,
                               "indexed uint256, bytes32, uint256, indexed address"),
    "GroupKeyReplaced": _abi(GroupKeyReplaced, "indexed uint256, bytes"),
    "GroupKeyReplacementScheduled": _abi(GroupKeyReplacementScheduled,
                                         "indexed uint256, bytes, uint256"),
    "GroupKeyReplacementCancelled": _abi(GroupKeyReplacementCancelled, "indexed uint256"),
    "ConfirmationsPaused": _abi(ConfirmationsPaused),
    "ConfirmationsUnpaused": _abi(ConfirmationsUnpaused),
    "GovernorChanged": _abi(GovernorChanged, "indexed address, indexed address"),
    "SignerSetProposed": _abi(SignerSetProposed, "indexed uint256, indexed uint256, uint256, "
                              "uint256, bytes[], bytes[], bytes[]"),
}
"""Each event's class and arguments (the golden ABI test compares them with the contracts)."""

EVENT_SIGNATURES: Mapping[str, str] = {name: abi.signature(name) for name, abi in _EVENTS.items()}
"""Canonical signature of each event, e.g. ``BlockProven(uint256,bytes32,bytes32)``."""
EVENT_TOPICS: Mapping[str, bytes] = {n: keccak(s.encode()) for n, s in EVENT_SIGNATURES.items()}
"""topic0 of each event."""
_BY_TOPIC = {topic: name for name, topic in EVENT_TOPICS.items()}


def _hex_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        return bytes.fromhex(value.removeprefix("0x"))
    raise BindingError(f"expected hex or bytes in a log, got {value!r}")


def _typed(abi_type: str, value: Any) -> Any:
    if abi_type == "address":
        return to_checksum_address(value)
    if isinstance(value, tuple | list):
        return tuple(value)
    return value


def decode_log(log: Mapping[str, Any]) -> MainEvent | None:
    """Decode a JSON-RPC log (``topics``, ``data``) of the main contract (gate included) or
    of ``signer_sets``.

    Returns None for a log of another event (e.g. an ERC-20 Transfer); raises BindingError for a
    log that claims to be a main-contract event but does not decode.
    """
    try:
        topics = [_hex_bytes(t) for t in log["topics"]]
        data = _hex_bytes(log["data"])
    except (KeyError, TypeError, ValueError) as err:
        raise BindingError(f"malformed log {log!r}") from err
    if not topics or topics[0] not in _BY_TOPIC:
        return None
    name = _BY_TOPIC[topics[0]]
    abi = _EVENTS[name]
    indexed_types, data_types = abi.indexed, abi.data
    if len(topics) != 1 + len(indexed_types):
        raise BindingError(f"{name} log has {len(topics)} topics")
    try:
        indexed = [_typed(t, abi_decode([t], topic)[0])
                   for t, topic in zip(indexed_types, topics[1:], strict=True)]
        values = [_typed(t, v) for t, v in zip(data_types, abi_decode(list(data_types), data),
                                                strict=True)]
    except Exception as err:  # eth_abi raises several unrelated types on bad input
        raise BindingError(f"{name} log does not decode: {err}") from err
    return abi.build(indexed, values)

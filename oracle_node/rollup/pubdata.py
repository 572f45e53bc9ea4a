"""Rollup operations and their 62-byte pubdata encoding (docs/protocol.md §2).

Every operation occupies exactly ``OP_BYTES = 62`` bytes (two 31-byte field elements),
big-endian, zero-padded on the right. Decoding is strict: an unknown type code, a wrong
length or a nonzero byte in a padding region raises :class:`PubdataError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from oracle_node.errors import RollupError

OP_BYTES = 62
"""Bytes of pubdata per operation (two 31-byte field elements)."""
CHUNK_BYTES = 31
"""Bytes packed into one public-input field element."""

OP_NOOP = 0
OP_DEPOSIT = 1
OP_TRANSFER = 2
OP_WITHDRAW = 3
OP_FULL_EXIT = 4

U8_MAX = (1 << 8) - 1
U16_MAX = (1 << 16) - 1
U32_MAX = (1 << 32) - 1
U64_MAX = (1 << 64) - 1
U128_MAX = (1 << 128) - 1
ADDRESS_BYTES = 20


class PubdataError(RollupError):
    """Raised when pubdata bytes are malformed (unknown op type, bad length, nonzero padding)
    or when an operation's fields are out of range for their encoding."""


@dataclass(frozen=True)
class Noop:
    """An empty slot (all 62 bytes zero)."""


@dataclass(frozen=True)
class Deposit:
    """Credit ``amount`` of ``token`` to ``account_id`` (a priority op of ``chain_id``)."""

    chain_id: int
    account_id: int
    token: int
    amount: int
    owner: bytes
    serial_id: int


@dataclass(frozen=True)
class Transfer:
    """Move ``amount`` of ``token`` from ``from_account`` (at ``from_nonce``) to ``to_account``."""

    from_account: int
    token: int
    amount: int
    to_account: int
    from_nonce: int


@dataclass(frozen=True)
class Withdraw:
    """Debit ``amount`` of ``token`` from ``account_id``; chain ``chain_id`` pays ``to_address``."""

    chain_id: int
    account_id: int
    token: int
    amount: int
    to_address: bytes
    nonce: int


@dataclass(frozen=True)
class FullExit:
    """Exit the whole balance of ``token`` (a priority op of ``chain_id``); ``amount`` may be 0."""

    chain_id: int
    account_id: int
    token: int
    amount: int
    owner: bytes
    serial_id: int


Op = Noop | Deposit | Transfer | Withdraw | FullExit
"""Any rollup operation."""


def _check(name: str, value: int, maximum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        raise PubdataError(f"{name}={value!r} is out of range 0..{maximum}")


def _check_address(name: str, value: bytes) -> None:
    if not isinstance(value, bytes) or len(value) != ADDRESS_BYTES:
        raise PubdataError(f"{name} must be {ADDRESS_BYTES} bytes, got {value!r}")


def _head(code: int, chain_id: int, account: int, token: int, amount: int) -> bytes:
    _check("chain_id", chain_id, U8_MAX)
    _check("account_id", account, U32_MAX)
    _check("token", token, U16_MAX)
    _check("amount", amount, U128_MAX)
    return (bytes([code, chain_id]) + account.to_bytes(4, "big") + token.to_bytes(2, "big")
            + amount.to_bytes(16, "big"))


def encode_op(op: Op) -> bytes:
    """Encode one operation into its 62 pubdata bytes; raise PubdataError on out-of-range fields."""
    if isinstance(op, Noop):
        body = b""
    elif isinstance(op, Deposit | FullExit):
        _check_address("owner", op.owner)
        _check("serial_id", op.serial_id, U64_MAX)
        code = OP_DEPOSIT if isinstance(op, Deposit) else OP_FULL_EXIT
        body = (_head(code, op.chain_id, op.account_id, op.token, op.amount) + op.owner
                + op.serial_id.to_bytes(8, "big"))
    elif isinstance(op, Transfer):
        _check("to_account", op.to_account, U32_MAX)
        _check("from_nonce", op.from_nonce, U32_MAX)
        body = (_head(OP_TRANSFER, 0, op.from_account, op.token, op.amount)
                + op.to_account.to_bytes(4, "big") + op.from_nonce.to_bytes(4, "big"))
    elif isinstance(op, Withdraw):
        _check_address("to_address", op.to_address)
        _check("nonce", op.nonce, U32_MAX)
        body = (_head(OP_WITHDRAW, op.chain_id, op.account_id, op.token, op.amount)
                + op.to_address + op.nonce.to_bytes(4, "big"))
    else:
        raise PubdataError(f"not an operation: {op!r}")
    return body + bytes(OP_BYTES - len(body))


_USED_BYTES = {OP_NOOP: 0, OP_DEPOSIT: 52, OP_TRANSFER: 32, OP_WITHDRAW: 48, OP_FULL_EXIT: 52}


def decode_op(b: bytes) -> Op:
    """Decode 62 pubdata bytes strictly; raise PubdataError on any malformation."""
    if len(b) != OP_BYTES:
        raise PubdataError(f"an op is {OP_BYTES} bytes, got {len(b)}")
    code = b[0]
    used = _USED_BYTES.get(code)
    if used is None:
        raise PubdataError(f"unknown op type {code}")
    if any(b[used:]):
        raise PubdataError(f"nonzero padding in op type {code}")
    if code == OP_NOOP:
        return Noop()
    chain_id = b[1]
    account = int.from_bytes(b[2:6], "big")
    token = int.from_bytes(b[6:8], "big")
    amount = int.from_bytes(b[8:24], "big")
    if code == OP_TRANSFER:
        if chain_id != 0:
            raise PubdataError("transfer has a nonzero chain byte")
        return Transfer(from_account=account, token=token, amount=amount,
                        to_account=int.from_bytes(b[24:28], "big"),
                        from_nonce=int.from_bytes(b[28:32], "big"))
    address = bytes(b[24:44])
    if code == OP_WITHDRAW:
        return Withdraw(chain_id=chain_id, account_id=account, token=token, amount=amount,
                        to_address=address, nonce=int.from_bytes(b[44:48], "big"))
    serial = int.from_bytes(b[44:52], "big")
    if code == OP_DEPOSIT:
        return Deposit(chain_id=chain_id, account_id=account, token=token, amount=amount,
                       owner=address, serial_id=serial)
    return FullExit(chain_id=chain_id, account_id=account, token=token, amount=amount,
                    owner=address, serial_id=serial)


def encode_block_pubdata(ops: Sequence[Op], capacity: int) -> bytes:
    """Concatenate the ops' encodings, padded with Noop up to ``capacity`` slots."""
    if capacity < 1:
        raise PubdataError(f"capacity must be >= 1, got {capacity}")
    if len(ops) > capacity:
        raise PubdataError(f"{len(ops)} ops exceed the block capacity {capacity}")
    return b"".join(encode_op(op) for op in ops) + bytes(OP_BYTES * (capacity - len(ops)))


def decode_block_pubdata(b: bytes) -> list[Op]:
    """Decode a whole block's pubdata into one op per slot (Noops included)."""
    if len(b) == 0 or len(b) % OP_BYTES != 0:
        raise PubdataError(f"block pubdata length {len(b)} is not a positive multiple "
                           f"of {OP_BYTES}")
    return [decode_op(b[i:i + OP_BYTES]) for i in range(0, len(b), OP_BYTES)]


def is_onchain_op_of(op: Op, chain_id: int) -> bool:
    """True if ``op`` is an on-chain operation of ``chain_id`` (Deposit, FullExit, Withdraw)."""
    return isinstance(op, Deposit | FullExit | Withdraw) and op.chain_id == chain_id


def onchain_ops_of_chain(ops: Iterable[Op], chain_id: int) -> list[Op]:
    """The on-chain operations of ``chain_id`` in block order (docs/protocol.md §2)."""
    return [op for op in ops if is_onchain_op_of(op, chain_id)]

"""Key material of a node: the threshold scheme adapter and the encrypted key files.

:class:`ConsensusScheme` implements the pipeline's ``ThresholdScheme`` port over
``consensus`` (BLS12-381 min-sig, arkworks backend by default). The key files written by
``oracle-node init`` (libp2p identity, transaction key) and the BLS share from the ceremony
are EIP-2335 keystores (``consensus.keystore``: scrypt, AES-128-CTR) in ``<data_dir>/keys``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from consensus import threshold
from consensus.bls import PublicKey, SecretKey, Signature, batch_verify_same_message, verify
from consensus.errors import ConsensusError, WrongPasswordError
from consensus.keystore import decrypt_keystore, encrypt_keystore
from consensus.lock import ClusterLock
from consensus.message import signing_message
from oracle_node.errors import ConfigError, OracleNodeError
from oracle_node.types import BlockNumber, Epoch, MemberIndex


class KeystoreError(OracleNodeError):
    """Raised when a keystore file is malformed or its password does not decrypt it."""


class ConsensusScheme:
    """``ThresholdScheme`` over ``consensus.threshold`` for one member of one signer set."""

    def __init__(self, *, network_id: int, threshold_t: int, group_key: PublicKey,
                 public_shares: Mapping[int, PublicKey], own_share: threshold.KeyShare | None,
                 backend: str | None = None) -> None:
        """Bind the scheme to the network, the signer set and this node's share.

        ``own_share`` None: a verify-only view of a set this node holds no share of
        (``own_index`` is 0 and :meth:`sign_own` raises ``ConfigError``).
        """
        if own_share is not None and own_share.index not in public_shares:
            raise ConfigError(f"own share index {own_share.index} is not in the signer set")
        self._network_id = network_id
        self._t = threshold_t
        self._group = group_key
        self._shares = {int(i): threshold.PublicKeyShare(int(i), pk)
                        for i, pk in public_shares.items()}
        self._own = own_share
        self._backend = backend
        self._members = tuple(MemberIndex(i) for i in sorted(self._shares))

    @property
    def threshold(self) -> int:
        """t."""
        return self._t

    @property
    def members(self) -> Sequence[MemberIndex]:
        """Member indices, ascending."""
        return self._members

    @property
    def own_index(self) -> MemberIndex:
        """This node's member index (0 without a share)."""
        return MemberIndex(0 if self._own is None else self._own.index)

    @property
    def group_key_bytes(self) -> bytes:
        """The group public key, 96-byte compressed G2."""
        return self._group.to_bytes()

    def signing_message(self, *, epoch: Epoch, block_number: BlockNumber,
                        final_root: bytes) -> bytes:
        """The canonical message (docs/protocol.md §6)."""
        return signing_message(network_id=self._network_id, epoch=int(epoch),
                               block_number=int(block_number), final_root=final_root)

    def sign_own(self, message: bytes) -> bytes:
        """This node's partial signature (48 bytes)."""
        if self._own is None:
            raise ConfigError("this node holds no share of the signer set")
        return threshold.partial_sign(self._own, message,
                                      backend=self._backend).signature.to_bytes()

    def verify_partial(self, member: MemberIndex, message: bytes, signature: bytes) -> bool:
        """Strictly decode and verify a member's partial; False on any problem."""
        share = self._shares.get(int(member))
        if share is None:
            return False
        try:
            sig = Signature.from_bytes(signature, backend=self._backend)
            return threshold.verify_partial(share, message,
                                            threshold.PartialSignature(int(member), sig),
                                            backend=self._backend)
        except ConsensusError:
            return False

    def verify_partials_batch(self, message: bytes,
                              partials: Sequence[tuple[MemberIndex, bytes]]) -> bool:
        """One random-linear-combination check of several members' partials over ``message``.

        True only if (with probability >= 1 - 2^-64) every partial is valid; False on any
        undecodable signature or unknown member. Callers re-check one by one on False.
        """
        pairs = []
        for member, signature in partials:
            share = self._shares.get(int(member))
            if share is None:
                return False
            try:
                pairs.append((share.public_key,
                              Signature.from_bytes(signature, backend=self._backend)))
            except ConsensusError:
                return False
        try:
            return batch_verify_same_message(pairs, message, backend=self._backend)
        except ConsensusError:
            return False

    def combine(self, partials: Mapping[MemberIndex, bytes]) -> bytes:
        """Lagrange-combine t verified partials."""
        parts = [threshold.PartialSignature(int(m), Signature.from_bytes(s,
                                                                         backend=self._backend))
                 for m, s in sorted(partials.items())]
        return threshold.combine(parts, self._t, backend=self._backend).to_bytes()

    def verify_group(self, message: bytes, signature: bytes) -> bool:
        """Verify a group signature under the group key; False on any problem."""
        try:
            sig = Signature.from_bytes(signature, backend=self._backend)
            return verify(self._group, message, sig, backend=self._backend)
        except ConsensusError:
            return False


# -- encrypted key files ---------------------------------------------------------------
NODE_KEY_SCRYPT_N = 2**15
"""scrypt cost of node key files (identity, transaction key): ~0.1 s per decryption here;
the BLS share keystore from the ceremony keeps the EIP-2335 default (2^18)."""

IDENTITY_FILE = "p2p-identity.json"
TX_KEY_FILE = "tx-key.json"
BLS_SHARE_FILE = "bls-share.json"


def write_keystore(path: Path, secret: bytes, password: str, *, description: str,
                   pubkey: bytes = b"", scrypt_n: int = NODE_KEY_SCRYPT_N) -> None:
    """Write an EIP-2335 keystore of ``secret`` readable only by the owner (never overwrite)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = encrypt_keystore(secret, password, description=description, pubkey=pubkey,
                           scrypt_n=scrypt_n)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(doc, handle, indent=2)


def _unreadable(err: OSError | UnicodeDecodeError) -> str:
    """Why a text file could not be read (``strerror`` or "not UTF-8 text")."""
    return "not UTF-8 text" if isinstance(err, UnicodeDecodeError) else str(err.strerror)


def read_keystore(path: Path, password: str) -> bytes:
    """Read and decrypt a keystore; raises :class:`KeystoreError` naming the file."""
    try:
        return decrypt_keystore(path.read_text(), password)
    except (OSError, UnicodeDecodeError) as err:
        raise KeystoreError(f"cannot read keystore {path}: {_unreadable(err)}") from err
    except WrongPasswordError as err:
        raise KeystoreError(f"{path}: wrong password") from err
    except ConsensusError as err:
        raise KeystoreError(f"{path}: {err}") from err


def read_password(password_file: Path | None) -> str:
    """The key password: ``ORACLE_NODE_PASSWORD`` or the first line of ``password_file``."""
    env = os.environ.get("ORACLE_NODE_PASSWORD")
    if env:
        return env
    if password_file is None:
        raise ConfigError("keys.password_file: missing (or set ORACLE_NODE_PASSWORD)")
    try:
        return password_file.read_text().splitlines()[0]
    except (OSError, UnicodeDecodeError, IndexError) as err:
        raise ConfigError(f"keys.password_file: cannot read a password from "
                          f"{password_file}") from err


def load_lock(path: Path) -> ClusterLock:
    """Read and check the cluster lock (hash, consistency); raises :class:`ConfigError`."""
    try:
        return ClusterLock.from_json(path.read_text())
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"node.cluster_lock: cannot read {path}: {_unreadable(err)}") from err
    except ConsensusError as err:
        raise ConfigError(f"node.cluster_lock: {path} is not a valid lock: {err}") from err


def load_share(lock: ClusterLock, path: Path, password: str) -> threshold.KeyShare:
    """Decrypt this node's BLS share and find its index in the lock (refuse a mismatch)."""
    secret = SecretKey.from_bytes(read_keystore(path, password))
    for pub in lock.public_shares:
        share = threshold.KeyShare(pub.index, secret)
        if lock.verify_share(share):
            return share
    raise ConfigError(f"keys.bls_keystore: {path} holds no share of this cluster lock "
                      f"(group key 0x{lock.group_public_key.to_bytes().hex()[:16]}…)")


def scheme_from_lock(lock: ClusterLock, share: threshold.KeyShare | None,
                     network_id: int) -> ConsensusScheme:
    """The threshold scheme of this node for the lock's signer set (None: verify only)."""
    return ConsensusScheme(network_id=network_id, threshold_t=lock.threshold,
                           group_key=lock.group_public_key,
                           public_shares={p.index: p.public_key for p in lock.public_shares},
                           own_share=share)

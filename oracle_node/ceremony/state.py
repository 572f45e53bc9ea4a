"""Crash-safe, encrypted persistence of one participant's ceremony state.

The state (``Participant.to_bytes``) holds secrets (the DKG seed, the share-encryption key,
an old share during a reshare), so it is sealed with AES-256-GCM under a key the caller
derives from the node's identity. Every write goes to a temporary file in the same folder,
is fsynced, renamed over the old file and the folder is fsynced: a crash leaves either the
old or the new state, never a torn one. Writes are synchronous on purpose: the files are a
few KiB, and a worker thread would let ``MockClock`` jump time while it waits.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from Crypto.Cipher import AES

from consensus.dkg import Participant
from consensus.errors import DkgStateError
from oracle_node.ceremony.errors import CeremonyStateError

MAGIC = b"ZKCEREMONY1"
NONCE_BYTES = 12
TAG_BYTES = 16


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace ``path`` by ``data`` atomically and durably (temp + fsync + rename + dir fsync)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A unique temp name per writer: two processes sharing a file must not rename each
    # other's half-written temp (seen when nodes shared one cluster lock at activation).
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class StateFile:
    """The sealed state file of one participant of one ceremony."""

    def __init__(self, path: Path, key: bytes) -> None:
        """``key`` is 32 secret bytes (e.g. derived from the node identity)."""
        if len(key) != 32:
            raise CeremonyStateError("the state key must be 32 bytes")
        self.path = path
        self._key = key
        self.writes = 0
        """How many times the state was written (for tests and benchmarks)."""

    def save(self, participant: Participant) -> None:
        """Seal and atomically write ``participant``'s state."""
        nonce = os.urandom(NONCE_BYTES)
        cipher = AES.new(self._key, AES.MODE_GCM, nonce=nonce)
        cipher.update(MAGIC)
        body, tag = cipher.encrypt_and_digest(participant.to_bytes())
        atomic_write(self.path, MAGIC + nonce + body + tag)
        self.writes += 1

    def load(self) -> Participant | None:
        """The stored participant, or ``None`` if there is no state file yet."""
        try:
            blob = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise CeremonyStateError(f"cannot read {self.path}: {err.strerror}") from err
        if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + NONCE_BYTES + TAG_BYTES:
            raise CeremonyStateError(f"{self.path} is not a ceremony state file")
        nonce = blob[len(MAGIC):len(MAGIC) + NONCE_BYTES]
        cipher = AES.new(self._key, AES.MODE_GCM, nonce=nonce)
        cipher.update(MAGIC)
        try:
            plain = cipher.decrypt_and_verify(blob[len(MAGIC) + NONCE_BYTES:-TAG_BYTES],
                                              blob[-TAG_BYTES:])
        except ValueError as err:
            raise CeremonyStateError(f"{self.path}: wrong key or corrupted state") from err
        try:
            return Participant.from_bytes(plain)
        except DkgStateError as err:
            raise CeremonyStateError(f"{self.path}: {err}") from err

    def wipe(self) -> None:
        """Overwrite and delete the state file (it holds secrets); no error if absent."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        fd = os.open(self.path, os.O_WRONLY)
        try:  # overwrite in place (a rename would leave the old blocks untouched)
            os.write(fd, os.urandom(size))
            os.fsync(fd)
        finally:
            os.close(fd)
        self.path.unlink(missing_ok=True)

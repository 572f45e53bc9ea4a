"""A finished ceremony's outputs on disk: the member's share keystore, then the cluster lock.

The DKG, the operator's resharing and the signer-set rotation all end here, so the three
write the same formats: the share as an EIP-2335 keystore (JSON, indent 2, owner-only) under
the node password, the lock as its canonical JSON (world-readable). The lock is written last:
its presence tells a restarted member that both files are complete.
"""

from __future__ import annotations

import json
from pathlib import Path

from consensus.keystore import encrypt_keystore
from consensus.lock import ClusterLock
from consensus.threshold import KeyShare
from oracle_node.ceremony.state import atomic_write


def share_description(index: int, cluster: str | None = None) -> str:
    """The keystore ``description`` of share ``index`` (naming the cluster when given)."""
    text = f"BLS key share {index}"
    return text if cluster is None else f"{text} of cluster {cluster}"


def write_ceremony_output(*, lock: ClusterLock, lock_path: Path, share: KeyShare | None,
                          share_path: Path, password: str, scrypt_n: int,
                          description: str | None = None, pubkey: bytes = b"") -> None:
    """Encrypt ``share`` (if this member holds one) to ``share_path``, then write ``lock``.

    ``description`` defaults to :func:`share_description` of the share's index; ``pubkey``
    (the share's public key, optional in EIP-2335) goes into the keystore as is. Both writes
    are atomic and durable (``atomic_write``).
    """
    if share is not None:
        doc = encrypt_keystore(share.secret.to_bytes(), password, scrypt_n=scrypt_n,
                               pubkey=pubkey,
                               description=description or share_description(share.index))
        atomic_write(share_path, json.dumps(doc, indent=2).encode())
    atomic_write(lock_path, lock.to_json().encode(), mode=0o644)

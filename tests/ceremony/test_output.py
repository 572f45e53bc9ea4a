"""The one writer of ceremony outputs: share keystore (owner-only) then the lock (readable)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from consensus.keystore import decrypt_keystore
from consensus.lock import ClusterLock
from consensus.threshold import KeyShare
from oracle_node.ceremony.output import share_description, write_ceremony_output
from tests.consensus.locks import dkg_lock


def _lock_and_share() -> tuple[ClusterLock, KeyShare]:
    lock, shares = dkg_lock(b"\x07" * 32)
    return lock, shares[0]


def test_share_and_lock_written_in_the_shared_formats(tmp_path: Path) -> None:
    lock, share = _lock_and_share()
    share_path, lock_path = tmp_path / "share.json", tmp_path / "lock.json"
    write_ceremony_output(lock=lock, lock_path=lock_path, share=share, share_path=share_path,
                          password="pw", scrypt_n=1 << 4, pubkey=b"\x01" * 48)
    doc = json.loads(share_path.read_text())
    assert share_path.read_text().startswith('{\n  "')  # indent 2, like every ceremony
    assert doc["description"] == share_description(share.index) == f"BLS key share {share.index}"
    assert doc["pubkey"] == "01" * 48
    assert decrypt_keystore(doc, "pw") == share.secret.to_bytes()
    assert stat.S_IMODE(share_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(lock_path.stat().st_mode) == 0o644
    again = ClusterLock.from_json(lock_path.read_text())
    assert again == lock
    assert again.verify_share(share)


def test_member_without_a_share_gets_only_the_lock(tmp_path: Path) -> None:
    lock, _ = _lock_and_share()
    share_path, lock_path = tmp_path / "share.json", tmp_path / "lock.json"
    write_ceremony_output(lock=lock, lock_path=lock_path, share=None, share_path=share_path,
                          password="pw", scrypt_n=1 << 4,
                          description=share_description(2, "devnet"))
    assert not share_path.exists()
    assert ClusterLock.from_json(lock_path.read_text()) == lock
    assert share_description(2, "devnet") == "BLS key share 2 of cluster devnet"

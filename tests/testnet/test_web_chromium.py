"""The status page renders the harness snapshot in a real headless Chromium and refreshes live."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from testnet.web.server import StatusServer

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
)


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is required in CI (make tools installs Debian's chromium)")
    pytest.skip("chromium not installed; `make tools` installs it when apt-get is available")


def _snapshot(committed: int) -> dict[str, Any]:
    return {
        "signing_path": "nodes",
        "trusted_dealer_note": "TRUSTED DEALER (testnet only)",
        "keys_note": "key shares from a DKG among the 3 node processes",
        "chains": [
            {"chain_id": 1, "url": "http://127.0.0.1:1", "committed": committed, "proven": 2,
             "confirmed": 2, "executed": 1, "error": ""},
            {"chain_id": 2, "url": "http://127.0.0.1:2", "committed": committed, "proven": 2,
             "confirmed": 2, "executed": 2, "error": ""},
        ],
        "nodes": [{"index": i, "alive": i != 3, "status": {"ready": i != 3}} for i in (1, 2, 3)],
        "blocks": [
            {"block_number": 1, "latency_s": 0.42, "confirmed_on": [1, 2], "executed_on": [1, 2],
             "final_roots_agree": True},
            {"block_number": 2, "latency_s": 0.61, "confirmed_on": [1, 2], "executed_on": [2],
             "final_roots_agree": True},
        ],
    }


def _dump_dom(browser: str, url: str, profile: Path, budget_ms: int) -> str:
    out = subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
         f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.mark.system
def test_page_renders_snapshot_and_refreshes_in_chromium() -> None:
    browser = _chromium()
    calls: list[int] = []

    def snapshot() -> dict[str, Any]:
        calls.append(1)
        # The first poll sees block 3 committed; every later poll sees block 7.
        return _snapshot(3 if len(calls) == 1 else 7)

    server = StatusServer(snapshot)
    profile = Path(tempfile.mkdtemp(prefix="chromium-"))
    try:
        dom = _dump_dom(browser, server.url, profile, budget_ms=3500)
    finally:
        server.close()
        shutil.rmtree(profile, ignore_errors=True)
    assert "signing path: nodes" in dom
    assert "TRUSTED DEALER (testnet only)" in dom
    assert "key shares from a DKG among the 3 node processes" in dom
    assert "<td>http://127.0.0.1:2</td>" in dom
    assert "<td>0.61</td>" in dom
    assert "<td>down</td>" in dom
    # The page polls every second: after the virtual time budget it shows the later snapshot.
    assert len(calls) >= 2
    assert "<td>7</td>" in dom
    assert "<td>3</td>" not in dom.split('id="chains"', 1)[1].split("</table>", 1)[0]


@pytest.mark.system
def test_page_reports_an_unreachable_harness(tmp_path: Path) -> None:
    browser = _chromium()
    server = StatusServer(lambda: _snapshot(1))
    url = server.url
    server.close()
    page = tmp_path / "index.html"
    page.write_text((Path(__file__).resolve().parents[2] / "testnet/web/index.html").read_text())
    dom = _dump_dom(browser, page.as_uri(), tmp_path / "profile", budget_ms=1500)
    assert "harness not reachable" in dom
    assert url  # the closed server's URL was real

"""The status page server answers the page and the JSON snapshot, and survives a bad snapshot."""

from __future__ import annotations

from typing import Any

import httpx

from testnet.web.server import StatusServer


def test_page_and_snapshot_are_served() -> None:
    calls: list[int] = []

    def snapshot() -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return {"signing_path": "nodes", "chains": [{"chain_id": 1}]}

    server = StatusServer(snapshot)
    try:
        page = httpx.get(server.url, timeout=5)
        assert page.status_code == 200
        assert "status.json" in page.text
        assert httpx.get(server.url + "status.json", timeout=5).json()["signing_path"] == "nodes"
        assert "boom" in httpx.get(server.url + "status.json", timeout=5).json()["error"]
        assert httpx.get(server.url + "nope", timeout=5).status_code == 404
    finally:
        server.close()

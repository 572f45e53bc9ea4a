"""Shared fixtures for the consensus tests."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["arkworks", "py_ecc"])
def backend_name(request: pytest.FixtureRequest) -> str:
    """Both BLS backends (keep py_ecc cases few: ~0.1-0.5 s per operation)."""
    return str(request.param)

"""Shared fixtures of the gate tests: one committee per session, anvil per module."""

from __future__ import annotations

import pytest

from .support import Committee


@pytest.fixture(scope="session")
def committee() -> Committee:
    """A 3-of-4 group (trusted dealer, test-only)."""
    return Committee.make(3, 4, b"gate-tests-committee-seed-000001")


@pytest.fixture(scope="session")
def next_committee() -> Committee:
    """The group a handover moves to."""
    return Committee.make(3, 5, b"gate-tests-committee-seed-000002")

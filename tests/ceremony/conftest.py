"""Shared setup of the ceremony tests."""

from __future__ import annotations

# py-libp2p's import-time DeprecationWarning is silenced by importing the package first.
import oracle_node.p2p  # noqa: F401

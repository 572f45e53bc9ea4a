"""Shared setup of the p2p tests."""

from __future__ import annotations

# Import the package first: it imports py-libp2p with its one import-time DeprecationWarning
# silenced (see oracle_node/p2p/__init__.py); test modules may then import libp2p directly.
import oracle_node.p2p  # noqa: F401

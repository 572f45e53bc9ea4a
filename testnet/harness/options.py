"""Options of ``oracle-testnet up`` (also used by scenarios, tests and the e2e bench)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testnet.harness.errors import HarnessError

DEFAULT_CIRCUIT = (16, 4)
"""(depth, capacity) of the default testnet circuit (the DESIGN's d16/k4; also the node's
default ``RollupParams``). Cold single-party setup ~80 s on a loaded 2-core machine, cached in
``.cache/prover`` afterwards; proving ~3-7 s per block (docs/testnet.md)."""

SIGNING_PATHS = ("auto", "nodes", "harness")
KEYS_PATHS = ("dkg", "dealer")
"""Where the members' BLS shares come from: ``dkg`` (default) = a real DKG among the node
processes (``oracle-node dkg``); ``dealer`` = the harness deals them (TRUSTED DEALER)."""


@dataclass
class UpOptions:
    """What cluster to start and how long to run it."""

    chains: int = 2
    nodes: int = 4
    threshold: int = 3
    blocks: int | None = 3
    circuit: tuple[int, int] = DEFAULT_CIRCUIT
    summary: Path | None = None
    keep: bool = False
    run_dir: Path | None = None
    signing: str = "auto"
    keys: str = "dkg"
    """``dkg`` (the nodes run ``oracle-node dkg``) or ``dealer`` (TRUSTED DEALER, labelled)."""
    mode: str = "honest"
    dishonest_block: int = 2
    recover_after: float = 20.0
    block_interval: float = 1.0
    timeout: float = 900.0
    live: bool = True
    web_port: int | None = None
    seed: int = 1
    stop_when: Callable[[Any], bool] | None = None
    """Scenario hook: end the run early (successfully, if nothing failed) once it is true."""
    node_config_extra: Callable[[Any, int], dict[str, dict[str, object]]] | None = None
    """Scenario hook: ``(cluster, node index) -> {table: {key: value}}`` merged into every
    node's ``node.toml`` (``testnet.harness.nodes.merge_extra``: lists are appended, other
    values replace; ``"chains"`` applies to every ``[[chains]]`` entry)."""
    per_node_lock: bool = False
    """Give every node its own copy of the cluster lock (a rotation rewrites the live lock)."""
    prune_history: bool = True
    """Start anvil with ``--prune-history`` (``anvil_reorg`` needs the full history)."""

    def validate(self) -> None:
        """Raise HarnessError on inconsistent options."""
        if not 1 <= self.chains <= 8:
            raise HarnessError("--chains must be 1..8")
        if not 1 <= self.threshold <= self.nodes <= 32:
            raise HarnessError("need 1 <= threshold <= nodes <= 32")
        if self.blocks is not None and self.blocks < 1:
            raise HarnessError("--blocks must be >= 1")
        depth, capacity = self.circuit
        if not 3 <= depth <= 32 or not 1 <= capacity <= 64:
            raise HarnessError("--circuit d,k needs 3 <= d <= 32 and 1 <= k <= 64")
        if self.signing not in SIGNING_PATHS:
            raise HarnessError(f"--signing must be one of {SIGNING_PATHS}")
        if self.keys not in KEYS_PATHS:
            raise HarnessError(f"--keys must be one of {KEYS_PATHS}")


def parse_circuit(text: str) -> tuple[int, int]:
    """Parse ``d,k`` (e.g. ``16,4``)."""
    try:
        depth, capacity = (int(x) for x in text.split(","))
    except ValueError as err:
        raise HarnessError(f"--circuit wants d,k (e.g. 16,4), got {text!r}") from err
    return depth, capacity

"""The sequencer's configuration (a JSON file in the run directory) and its dishonest modes."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from testnet.harness.errors import SequencerError

MODES = ("honest", "lie-ops", "wrong-root", "skip-proof")
"""``lie-ops``: tell one chain a different opsHash of another chain; ``wrong-root``: commit a
state root the proof cannot support; ``skip-proof``: prove on every chain but one."""


@dataclass(frozen=True)
class ChainSpec:
    """One connected chain as the sequencer needs it."""

    rollup_chain_id: int
    rpc_url: str
    main: str
    token: str


@dataclass(frozen=True)
class SequencerConfig:
    """Everything ``python -m testnet.sequencer`` needs."""

    chains: tuple[ChainSpec, ...]
    validator_key: str
    user_keys: tuple[str, ...]
    depth: int
    capacity: int
    max_blocks: int | None = None
    block_interval: float = 1.0
    mode: str = "honest"
    dishonest_block: int = 2
    dishonest_chain: int = 0          # rollup chain id told the lie / left unproved (0 = last)
    recover_after: float = 20.0       # seconds to wait (expecting no confirmation) before recovery
    events_path: str = ""
    setup_cache: str = ""
    seed: int = 7
    traffic: bool = True
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise SequencerError(f"unknown sequencer mode {self.mode!r}; choose from {MODES}")
        if not self.chains:
            raise SequencerError("the sequencer needs at least one chain")

    @property
    def chain_ids(self) -> list[int]:
        """Rollup chain ids in ascending order (docs/protocol.md §1)."""
        return sorted(c.rollup_chain_id for c in self.chains)

    @property
    def target_chain(self) -> int:
        """The chain a dishonest mode targets."""
        return self.dishonest_chain or self.chain_ids[-1]

    def save(self, path: Path) -> None:
        """Write the config as JSON."""
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: Path) -> SequencerConfig:
        """Read a config written by :meth:`save`; raise SequencerError if it is unusable."""
        try:
            raw = json.loads(path.read_text())
            raw["chains"] = tuple(ChainSpec(**c) for c in raw["chains"])
            raw["user_keys"] = tuple(raw["user_keys"])
            return cls(**raw)
        except (OSError, ValueError, TypeError, KeyError) as err:
            raise SequencerError(f"bad sequencer config {path}: {err}") from err

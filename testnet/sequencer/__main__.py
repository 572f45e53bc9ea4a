"""``python -m testnet.sequencer --config sequencer.json``: run the testnet sequencer."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType

from deploy.errors import DeployError
from oracle_node.errors import OracleNodeError
from testnet.sequencer.config import SequencerConfig
from testnet.sequencer.core import Sequencer
from testnet.sequencer.eventlog import EventLog
from testnet.sequencer.proving import make_prover


def main(argv: list[str] | None = None) -> int:
    """Run until the configured number of blocks is executed everywhere (or SIGTERM)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args(argv)
    config = SequencerConfig.load(args.config)
    log = EventLog(Path(config.events_path) if config.events_path else None)
    try:
        prove = make_prover(config, log)
        sequencer = Sequencer(config, prove, log)
    except (OracleNodeError, DeployError) as err:
        log.emit("error", where="startup", error=str(err))
        print(f"sequencer: {err}", file=sys.stderr)
        return 1

    def on_term(signum: int, _frame: FrameType | None) -> None:
        sequencer.stop.set()

    signal.signal(signal.SIGTERM, on_term)
    try:
        sequencer.run()
    except (OracleNodeError, DeployError) as err:
        log.emit("error", where="run", error=str(err)[:500])
        print(f"sequencer: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

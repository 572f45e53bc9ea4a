"""``python -m testnet.sim --n 64 --blocks 3``: one simulated run under MockClock, summarised."""

from __future__ import annotations

import argparse
import time

import trio
import trio.testing

from testnet.sim.cluster import SimConfig, open_cluster


async def _simulate(config: SimConfig, blocks: int) -> dict[str, object]:
    async with open_cluster(config) as cluster:
        await cluster.produce(blocks)
        ok = await cluster.wait_confirmed(blocks, timeout=600)
        node = cluster.honest_running()[0]
        trace = node.deps.tracker.traces if node.deps.tracker else {}
        return {
            "confirmed_all": ok,
            "trio_time_s": round(trio.current_time(), 2),
            "events_per_block": {c: dict(k.confirmations) for c, k in cluster.contracts.items()},
            "gossip_deliveries": cluster.network.stats["sent"],
            "node1_latency_s": {b: t.latency("confirmed") for b, t in sorted(trace.items())},
        }


def main() -> None:
    """Parse arguments, run, print a summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--drop-rate", type=float, default=0.0)
    args = parser.parse_args()
    config = SimConfig(n=args.n, seed=args.seed, drop_rate=args.drop_rate)
    start = time.perf_counter()
    summary = trio.run(_simulate, config, args.blocks,
                       clock=trio.testing.MockClock(autojump_threshold=0))
    for key, value in summary.items():
        print(f"{key}: {value}")
    print(f"wall_s: {time.perf_counter() - start:.1f}")


if __name__ == "__main__":
    main()

"""The scenarios: one fault each, injected from a harness hook, and the checks that follow."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from testnet.harness.cluster import Cluster
from testnet.scenarios.base import (
    ScenarioResult,
    harness_events,
    run_with_hooks,
    scenario_options,
    sequencer_events,
)
from testnet.scenarios.handover import run_handover
from testnet.scenarios.reorg import CONFIRMATIONS, run_reorg
from testnet.scenarios.rotation import run_rotation

Runner = Callable[..., ScenarioResult]
_REJECTION = re.compile(r"reject|refus|mismatch|roots?_differ", re.IGNORECASE)


@dataclass(frozen=True)
class Scenario:
    """A named scenario and the function that runs it."""

    description: str
    run: Runner


def _node_rejections(cluster: Cluster | None) -> list[str]:
    """Lines in node logs that record a refusal to sign (evidence of the refusal)."""
    if cluster is None:
        return []
    found = []
    for node in cluster.nodes:
        if node.log_path.is_file():
            found += [f"node-{node.index}: {line[:160]}"
                      for line in node.log_path.read_text(errors="replace").splitlines()
                      if _REJECTION.search(line)]
    return found


def _dishonest(mode: str, title: str) -> Runner:
    def run(*, console: Console, run_dir: Path | None, circuit: tuple[int, int] | None,
            signing: str) -> ScenarioResult:
        result = ScenarioResult(title)
        options = scenario_options(run_dir=run_dir, circuit=circuit, signing=signing,
                                   mode=mode, dishonest_block=2, recover_after=15.0)
        result.actions.append(f"sequencer mode {mode!r} at block 2, then recovery after 15 s")
        _code, _summary, cluster = run_with_hooks(result, options, console)
        outcome = sequencer_events(cluster, "dishonest_outcome")
        result.check("the sequencer misbehaved at block 2",
                     bool(sequencer_events(cluster, "dishonest")), "")
        result.check("nothing was confirmed for the dishonest block while it stood",
                     bool(outcome) and all(e.get("refused") for e in outcome), str(outcome)[:200])
        result.check("the sequencer recovered (honest block 2 re-published)",
                     bool(sequencer_events(cluster, "recovered")), "")
        if mode == "lie-ops":
            evidence = (_node_rejections(cluster) if cluster and cluster.nodes
                        else [str(e) for e in harness_events(cluster, "refused")])
            result.check("the signers recorded their refusal (evidence)", bool(evidence),
                         evidence[0] if evidence else "no refusal found in node logs/events")
        if mode == "wrong-root":
            rejected = sequencer_events(cluster, "prove_rejected")
            result.check("every chain rejected the proof of the wrong root", len(rejected) >= 2,
                         f"{len(rejected)} rejections")
        return result

    return run


def _pause(pid: int, seconds: float, resumed: threading.Event) -> None:
    os.killpg(pid, signal.SIGSTOP)

    def resume() -> None:
        try:
            os.killpg(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        resumed.set()

    threading.Timer(seconds, resume).start()


def _rpc_outage(*, console: Console, run_dir: Path | None, circuit: tuple[int, int] | None,
                signing: str) -> ScenarioResult:
    result = ScenarioResult("rpc-outage")
    state: dict[str, float] = {}
    resumed = threading.Event()

    def tick(cluster: Cluster) -> None:
        assert cluster.monitor is not None
        if "paused" not in state and cluster.monitor.confirmed_everywhere() >= 1:
            pid = cluster.supervisor.get("anvil-1").pid
            _pause(pid, 10.0, resumed)
            state["paused"] = time.monotonic()
            result.actions.append("froze chain 1's RPC (SIGSTOP anvil) for 10 s after block 1")

    options = scenario_options(run_dir=run_dir, circuit=circuit, signing=signing, blocks=3)
    run_with_hooks(result, options, console, on_tick=tick)
    resumed.wait(15)
    result.check("the outage happened", "paused" in state, "")
    return result


def _needs_nodes(result: ScenarioResult, cluster: Cluster) -> bool:
    if cluster.signing_path != "nodes":
        result.check("runs with real oracle nodes", False,
                     f"signing path is {cluster.signing_path}; this scenario needs nodes")
        return False
    return True


def _kill_minority(*, console: Console, run_dir: Path | None, circuit: tuple[int, int] | None,
                   signing: str) -> ScenarioResult:
    result = ScenarioResult("kill-minority")
    state: dict[str, int] = {}

    def tick(cluster: Cluster) -> None:
        assert cluster.monitor is not None
        if "killed" in state or not _needs_nodes(result, cluster):
            state["killed"] = state.get("killed", 0)
            return
        if cluster.monitor.confirmed_everywhere() >= 1:
            n, t = cluster.options.nodes, cluster.options.threshold
            victims = cluster.nodes[t:]
            for node in victims:
                node.stopped_on_purpose = True
                if node.process is not None:
                    os.killpg(node.process.pid, signal.SIGKILL)
            state["killed"] = len(victims)
            state["at_block"] = cluster.monitor.confirmed_everywhere()
            result.actions.append(f"killed {len(victims)} of {n} nodes (SIGKILL) after block "
                                  f"{state['at_block']}; {t} remain (= threshold)")

    options = scenario_options(run_dir=run_dir, circuit=circuit, signing=signing, blocks=4)
    _code, summary, _cluster = run_with_hooks(result, options, console, on_tick=tick)
    result.check("a minority of nodes was killed", state.get("killed", 0) >= 1, str(state))
    if summary is not None and "at_block" in state:
        result.check("blocks after the kill were confirmed",
                     summary["confirmed_everywhere"] > state["at_block"],
                     f"confirmed everywhere: {summary['confirmed_everywhere']}")
    return result


def _partition(*, console: Console, run_dir: Path | None, circuit: tuple[int, int] | None,
               signing: str) -> ScenarioResult:
    result = ScenarioResult("partition")
    state: dict[str, int] = {}
    resumed = threading.Event()

    def tick(cluster: Cluster) -> None:
        assert cluster.monitor is not None
        confirmed = cluster.monitor.confirmed_everywhere()
        if "paused_at" in state:
            if not resumed.is_set():
                state["during_max"] = max(state.get("during_max", 0), confirmed)
            return
        if "skipped" in state or not _needs_nodes(result, cluster):
            state["skipped"] = 1
            return
        if confirmed >= 1:
            n, t = cluster.options.nodes, cluster.options.threshold
            cut = cluster.nodes[t - 1:]  # only t-1 nodes stay reachable: below threshold
            for node in cut:
                if node.process is not None:
                    _pause(node.process.pid, 20.0, resumed)
            state["paused"] = len(cut)
            state["paused_at"] = confirmed
            result.actions.append(f"cut off {len(cut)} of {n} nodes for 20 s (SIGSTOP) after "
                                  f"block {confirmed}: {t - 1} < t={t} remain")

    options = scenario_options(run_dir=run_dir, circuit=circuit, signing=signing, blocks=3)
    run_with_hooks(result, options, console, on_tick=tick)
    resumed.wait(25)
    result.check("a majority was cut off", state.get("paused", 0) >= 1, str(state))
    if "paused_at" in state:
        result.check("at most the in-flight block was confirmed while below threshold",
                     state.get("during_max", 0) <= state["paused_at"] + 1, str(state))
    return result


def _forge(cluster: Cluster, block: int, root: bytes, members: int) -> list[str]:
    """Sign (block, root) with only ``members`` (< t) dealt shares and submit it everywhere;
    return what each chain answered (a revert is the expected answer)."""
    from consensus import threshold
    from consensus.message import signing_message
    from deploy.gate_tools import CONFIRM_GAS_LIMIT
    from testnet.harness.cluster import FALLBACK_SUBMITTER_KEY
    from testnet.harness.errors import ChainCallError
    from testnet.harness.fallback_signer import encode_confirm
    from testnet.sequencer.evm import EvmClient

    assert cluster.signers is not None
    msg = signing_message(network_id=cluster.network_id, epoch=1, block_number=block,
                          final_root=root)
    partials = [threshold.partial_sign(share, msg) for share in cluster.signers.shares[:members]]
    forged = threshold.combine(partials, members)  # a valid-looking point, wrong key
    answers = []
    for chain in cluster.state.chains:
        client = EvmClient(chain["rpc_url"])
        try:
            client.send(FALLBACK_SUBMITTER_KEY, to=chain["main"], gas=CONFIRM_GAS_LIMIT,
                        data=encode_confirm(block, root, forged.to_eip2537()))
            answers.append(f"chain {chain['rollup_chain_id']}: ACCEPTED")
        except ChainCallError as err:
            answers.append(f"chain {chain['rollup_chain_id']}: rejected ({str(err)[:60]})")
        finally:
            client.close()
    return answers


def _byzantine(*, console: Console, run_dir: Path | None, circuit: tuple[int, int] | None,
               signing: str) -> ScenarioResult:
    result = ScenarioResult("byzantine")
    answers: list[str] = []

    def tick(cluster: Cluster) -> None:
        assert cluster.monitor is not None
        if answers or cluster.monitor.confirmed_everywhere() < 1:
            return
        t = cluster.options.threshold
        block = cluster.monitor.confirmed_everywhere() + 1
        wrong = bytes(32 * [0xBD])
        answers.extend(_forge(cluster, block, wrong, t - 1))
        result.actions.append(f"{t - 1} colluding members (< t={t}) signed a wrong root for "
                              f"block {block} and submitted it on every chain: {answers}")

    options = scenario_options(run_dir=run_dir, circuit=circuit, signing=signing, blocks=3)
    run_with_hooks(result, options, console, on_tick=tick)
    result.check("the forgery was attempted", bool(answers), "")
    result.check("every chain rejected the signature of a byzantine minority",
                 bool(answers) and all("rejected" in a for a in answers), "; ".join(answers))
    return result


CATALOG: dict[str, Scenario] = {
    "lying-sequencer": Scenario(
        "the sequencer tells one chain a different opsHash for another chain at block 2; "
        "the signers must refuse, then the block is reverted and recommitted honestly",
        _dishonest("lie-ops", "lying-sequencer")),
    "wrong-root": Scenario(
        "the sequencer commits a state root the proof cannot support; every chain rejects "
        "the proof and nothing is confirmed", _dishonest("wrong-root", "wrong-root")),
    "skip-proof": Scenario(
        "the sequencer proves block 2 on every chain but one; nothing is confirmed until "
        "the last chain proves it", _dishonest("skip-proof", "skip-proof")),
    "kill-minority": Scenario(
        "SIGKILL n - t nodes after the first block; the remaining t keep confirming",
        _kill_minority),
    "rpc-outage": Scenario(
        "freeze one chain's RPC for 10 s; every block is still confirmed and executed",
        _rpc_outage),
    "byzantine": Scenario(
        "t - 1 colluding members sign a wrong root and submit it; every chain rejects it and "
        "the honest blocks are still confirmed", _byzantine),
    "partition": Scenario(
        "cut off all but t - 1 nodes for 20 s; nothing new is confirmed, then progress resumes",
        _partition),
    "rotation": Scenario("signer-set rotation 4 (t=3) -> 5 (t=4), member 4 replaced",
                         run_rotation),
    "handover": Scenario("group-key handover A -> B: a new DKG, the old group's threshold "
                         "signature on every chain (oracle-gov handover), the successor "
                         "cluster confirms at epoch 2, the old one refuses", run_handover),
    "reorg": Scenario(
        f"reorganise chain 2 shallower, then deeper than the nodes' finality rule "
        f"({CONFIRMATIONS} blocks); nothing orphaned is confirmed, every block is confirmed "
        "exactly once and executed on every chain", run_reorg),
}

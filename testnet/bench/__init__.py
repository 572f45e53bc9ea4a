"""Benchmark suites run by ``oracle-testnet bench SUITE --out FILE.json``.

Each suite is a module ``testnet.bench.<suite>`` exposing
``run(report: BenchReport, *, quick: bool) -> None`` that adds rows to the report.
Suites are imported lazily so that one suite's heavy dependencies never slow another.
"""

SUITES: dict[str, str] = {
    "crypto": "threshold BLS: keygen, sign, verify, partials, combine, DKG, reshare (per backend)",
    "rollup": "rollup core: replay throughput, tree update time",
    "prover": "Groth16 prover: constraints, setup, prove, verify per (depth, capacity)",
    "gas": "on-chain gate: confirmFinalRoot, handover, proposal vs k-of-n ECDSA",
    "chain": "chain I/O: RPC latency vs sync web3, event-to-emit latency",
    "node": "node pipeline: per-block latency, CPU, messages per block",
    "ceremony": "DKG and reshare over real processes",
    "e2e": "whole testnet: blocks/min, latency, gas, CPU/RSS, startup time",
}

"""Proving/verifying keys of the block circuit: setup, cache, ceremony import, Vyper export.

TESTNET ONLY: ``load_or_setup`` runs groth16py's *single-party* trusted setup; whoever runs
it knows the toxic waste and could forge proofs. Production must import the proving key of
a multi-party ceremony with :func:`import_ceremony_zkey`.

The cache lives in ``<cache_dir>/<circuit hash>/`` (default ``<repo>/.cache/prover``, or
``$ORACLE_PROVER_CACHE``): ``circuit.circom``, ``pk.bin``, ``vk.bin``, ``meta.json``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import groth16py

from oracle_node.errors import ProverError
from oracle_node.prover.circuit import circomlib_dir, circuit_hash, n_public_inputs, render_circuit
from oracle_node.rollup.state import RollupParams

log = logging.getLogger(__name__)
TESTNET_SETUP_WARNING = ("TESTNET ONLY: single-party Groth16 setup; the party that ran it can "
                         "forge proofs. Production must import a ceremony .zkey.")
CACHE_ENV = "ORACLE_PROVER_CACHE"


@dataclass(frozen=True)
class ProverKeys:
    """A proving key, its verifying key, and what they were made for."""

    params: RollupParams
    pk: groth16py.ProvingKey
    vk: groth16py.VerifyingKey
    circuit_hash: str
    testnet_setup: bool
    meta: dict[str, Any]

    @property
    def constraints(self) -> int | None:
        """Non-linear constraint count reported by the circom compiler (if captured)."""
        value = self.meta.get("constraints")
        return int(value) if value is not None else None


def default_cache_dir() -> Path:
    """``$ORACLE_PROVER_CACHE`` or ``<repo>/.cache/prover``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / ".cache" / "prover"


def _captured_setup(source_path: Path) -> tuple[Any, Any, str]:
    """Run setup_circom while capturing the compiler's stdout/stderr (for the counts)."""
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = [os.dup(1), os.dup(2)]
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            pk, vk = groth16py.setup_circom(str(source_path), [circomlib_dir()])
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        sink.seek(0)
        output = sink.read().decode("utf-8", "replace")
    return pk, vk, output


def _counts(output: str) -> dict[str, int]:
    counts = {}
    for key, label in (("constraints", "non-linear constraints"),
                       ("linear_constraints", "linear constraints"), ("wires", "wires")):
        match = re.search(rf"(?m)^{label}: (\d+)", re.sub(r"\x1b\[[0-9;]*m", "", output))
        if match:
            counts[key] = int(match.group(1))
    return counts


def load_or_setup(depth: int, capacity: int, cache_dir: Path | str | None = None, *,
                  token_slots: int = 2) -> ProverKeys:
    """Load the keys for (depth, capacity) from the cache, or compile + set up and cache them.

    TESTNET ONLY (single-party setup; see the module docstring)."""
    params = RollupParams(depth=depth, token_slots=token_slots, capacity=capacity)
    digest = circuit_hash(params)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = folder / digest
    pk_path, vk_path, meta_path = folder / "pk.bin", folder / "vk.bin", folder / "meta.json"
    try:
        if pk_path.exists() and vk_path.exists() and meta_path.exists():
            meta = json.loads(meta_path.read_text())
            keys = ProverKeys(params, groth16py.ProvingKey.load(str(pk_path)),
                              groth16py.VerifyingKey.load(str(vk_path)), digest, True, meta)
            log.info("prover keys loaded from cache (TESTNET ONLY setup)",
                     extra={"circuit_hash": digest, "depth": depth, "capacity": capacity})
            return keys
        # build the entry in a private directory, then rename it into place atomically: a
        # crash or a concurrent setup of the same circuit never leaves a mixed entry
        work = folder.with_name(f"{digest}.{os.getpid()}.{time.monotonic_ns()}.tmp")
        work.mkdir(parents=True)
        try:
            source = work / "circuit.circom"
            source.write_text(render_circuit(params), encoding="utf-8")
            log.warning(TESTNET_SETUP_WARNING)
            start = time.perf_counter()
            pk, vk, output = _captured_setup(source)
            meta = {"params": params.__dict__, "setup_s": time.perf_counter() - start,
                    "testnet_only": TESTNET_SETUP_WARNING, **_counts(output)}
            if vk.n_public != n_public_inputs(params):
                raise ProverError(f"circuit has {vk.n_public} public inputs, expected "
                                  f"{n_public_inputs(params)}")
            pk.save(str(work / "pk.bin"))
            vk.save(str(work / "vk.bin"))
            (work / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
            if folder.exists() and not meta_path.exists():
                shutil.rmtree(folder, ignore_errors=True)  # debris of a crashed setup
            try:
                work.rename(folder)
            except OSError:  # another process finished first: keep its entry, use our keys
                shutil.rmtree(work, ignore_errors=True)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    except (OSError, ValueError, groth16py.SetupError, groth16py.EncodingError) as err:
        raise ProverError(f"prover setup for depth={depth} capacity={capacity} failed: {err}") \
            from err
    log.warning("prover keys created by single-party setup (TESTNET ONLY)",
                extra={"circuit_hash": digest, **meta})
    return ProverKeys(params, pk, vk, digest, True, meta)


def import_ceremony_zkey(zkey_path: Path | str, depth: int, capacity: int, *,
                         token_slots: int = 2, work_dir: Path | str | None = None) -> ProverKeys:
    """Production path: import a snarkjs ceremony ``.zkey`` made for this exact circuit."""
    params = RollupParams(depth=depth, token_slots=token_slots, capacity=capacity)
    folder = Path(work_dir) if work_dir is not None else default_cache_dir() / "ceremony"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        source = folder / f"{circuit_hash(params)}.circom"
        source.write_text(render_circuit(params), encoding="utf-8")
        pk, vk = groth16py.import_zkey(str(zkey_path), str(source), [circomlib_dir()])
    except (OSError, ValueError, groth16py.SetupError, groth16py.EncodingError) as err:
        raise ProverError(f"importing ceremony key {zkey_path} failed: {err}") from err
    if vk.n_public != n_public_inputs(params):
        raise ProverError(f"zkey has {vk.n_public} public inputs, expected "
                          f"{n_public_inputs(params)}")
    return ProverKeys(params, pk, vk, circuit_hash(params), False, {"zkey": str(zkey_path)})


def vyper_verifier_source(keys: ProverKeys) -> str:
    """The Vyper verifier (``verifyProof(a, b, c, input)``) for ``keys``' verifying key."""
    header = (f"# Block proof verifier: depth={keys.params.depth} capacity={keys.params.capacity}"
              f" token_slots={keys.params.token_slots} circuit={keys.circuit_hash[:16]}\n")
    if keys.testnet_setup:
        header += f"# {TESTNET_SETUP_WARNING}\n"
    source: str = keys.vk.to_vyper(style="snarkjs")
    return header + source

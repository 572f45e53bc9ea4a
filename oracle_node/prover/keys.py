"""Proving/verifying keys of the block circuit: setup, cache, ceremony import, Vyper export.

TESTNET ONLY: ``load_or_setup`` runs groth16py's *single-party* trusted setup; whoever runs
it knows the toxic waste and could forge proofs. Production must import the proving key of
a multi-party ceremony with :func:`import_ceremony_zkey`.

The cache lives in ``<cache_dir>/<circuit hash>/`` (default ``<repo>/.cache/prover``, or
``$ORACLE_PROVER_CACHE``): ``circuit.circom``, ``pk.bin``, ``vk.bin``, ``meta.json`` and the
compiled witness generator ``witness-wasmtime-<version>.cwasm``. A cache hit reads only the
verifying key and the metadata; the proving key is loaded on first use.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import groth16py

from oracle_node.errors import ProverError
from oracle_node.prover.circuit import circomlib_dir, circuit_hash, n_public_inputs, render_circuit
from oracle_node.prover.wasm_witness import WitnessCalculator, wasmtime_available
from oracle_node.rollup.state import RollupParams

log = logging.getLogger(__name__)
TESTNET_SETUP_WARNING = ("TESTNET ONLY: single-party Groth16 setup; the party that ran it can "
                         "forge proofs. Production must import a ceremony .zkey.")
CACHE_ENV = "ORACLE_PROVER_CACHE"
WASMTIME_ENV = "ORACLE_PROVER_WASMTIME"


class ProverKeys:
    """A verifying key, its proving key (loaded lazily from the cache), and their circuit.

    ``pk`` is loaded on first use: deserializing the cached proving key costs ~6.5 s of CPU
    for d16/k4 (groth16py validates every curve point, and holds the GIL meanwhile), while
    verifying needs only ``vk``. ``load_proving_key()`` loads it eagerly; keys built with
    ``pk=None`` and no ``pk_path`` are verify-only (``pk`` raises ProverError)."""

    def __init__(self, params: RollupParams, pk: groth16py.ProvingKey | None,
                 vk: groth16py.VerifyingKey, circuit_hash: str, testnet_setup: bool,
                 meta: dict[str, Any], *, pk_path: Path | None = None) -> None:
        self.params = params
        self.vk = vk
        self.circuit_hash = circuit_hash
        self.testnet_setup = testnet_setup
        self.meta = meta
        self.pk_path = pk_path
        self._pk = pk
        self._lock = threading.Lock()
        self._verifier: groth16py.Verifier | None = None
        self._witness: WitnessCalculator | None = None
        self._witness_failed = False

    def __repr__(self) -> str:
        return (f"ProverKeys({self.params}, circuit={self.circuit_hash[:16]}, "
                f"pk_loaded={self.proving_key_loaded})")

    @property
    def constraints(self) -> int | None:
        """Non-linear constraint count reported by the circom compiler (if captured)."""
        value = self.meta.get("constraints")
        return int(value) if value is not None else None

    @property
    def proving_key_loaded(self) -> bool:
        """True once the proving key is in memory."""
        return self._pk is not None

    @property
    def can_prove(self) -> bool:
        """True if a proving key is loaded or can be loaded from ``pk_path``."""
        return self._pk is not None or self.pk_path is not None

    @property
    def pk(self) -> groth16py.ProvingKey:
        """The proving key (loaded from ``pk_path`` on first access)."""
        return self.load_proving_key()

    def load_proving_key(self) -> groth16py.ProvingKey:
        """Load the proving key now if it is not loaded yet (thread-safe) and return it."""
        with self._lock:
            if self._pk is None:
                if self.pk_path is None:
                    raise ProverError("these keys are verify-only (no proving key)")
                start = time.perf_counter()
                try:
                    self._pk = groth16py.ProvingKey.load(str(self.pk_path))
                except (OSError, ValueError, groth16py.EncodingError,
                        groth16py.SetupError) as err:
                    raise ProverError(f"cannot load the proving key {self.pk_path}: {err}") \
                        from err
                log.info("proving key loaded (TESTNET ONLY setup)", extra={
                    "circuit_hash": self.circuit_hash, "seconds": time.perf_counter() - start})
            return self._pk

    def load_in_background(self) -> threading.Thread:
        """Start loading the proving key and the witness generator in a daemon thread; a
        prove meanwhile waits for it. groth16py holds the GIL while it deserializes, so this
        helps a process that would otherwise sit idle (e.g. waiting for other processes to
        start), not one that has Python work to do. A failure is logged; the next
        ``load_proving_key`` retries and raises it."""

        def run() -> None:
            try:
                self.load_proving_key()
                self.witness_calculator()
            except ProverError as err:
                log.warning("background proving key load failed: %s", err)

        thread = threading.Thread(target=run, name="prover-key-load", daemon=True)
        thread.start()
        return thread

    def verifier(self) -> groth16py.Verifier:
        """The prepared verifier of ``vk`` (built once)."""
        if self._verifier is None:
            self._verifier = groth16py.Verifier(self.vk)
        return self._verifier

    def witness_calculator(self) -> WitnessCalculator | None:
        """The wasmtime witness generator of the cached circuit, or None when unavailable
        (no wasmtime, no ``pk_path``, or ``$ORACLE_PROVER_WASMTIME=0``): then proving uses
        groth16py's own (slower) witness generator."""
        if self.pk_path is None or not wasmtime_available() or self._witness_failed \
                or os.environ.get(WASMTIME_ENV, "1") == "0":
            return None
        with self._lock:
            if self._witness is None and not self._witness_failed:
                try:
                    self._witness = WitnessCalculator.load(self.pk_path)
                except ProverError as err:
                    self._witness_failed = True
                    log.warning("fast witness generator unavailable, using groth16py's: %s", err)
            return self._witness


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
                  token_slots: int = 2, preload: bool = False) -> ProverKeys:
    """Load the keys for (depth, capacity) from the cache, or compile + set up and cache them.

    A cache hit reads only ``vk.bin`` and ``meta.json`` (milliseconds); the proving key is
    loaded on first use, or here with ``preload=True``. TESTNET ONLY (single-party setup;
    see the module docstring)."""
    params = RollupParams(depth=depth, token_slots=token_slots, capacity=capacity)
    digest = circuit_hash(params)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = folder / digest
    pk_path, vk_path, meta_path = folder / "pk.bin", folder / "vk.bin", folder / "meta.json"
    try:
        if pk_path.exists() and vk_path.exists() and meta_path.exists():
            meta = json.loads(meta_path.read_text())
            keys = ProverKeys(params, None, groth16py.VerifyingKey.load(str(vk_path)), digest,
                              True, meta, pk_path=pk_path)
            log.info("prover keys found in cache (TESTNET ONLY setup)",
                     extra={"circuit_hash": digest, "depth": depth, "capacity": capacity})
            if preload:
                keys.load_proving_key()
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
    keys = ProverKeys(params, pk, vk, digest, True, meta, pk_path=pk_path)
    keys.witness_calculator()  # compile the witness wasm now, with the setup
    return keys


def load_verifying_key(depth: int, capacity: int, cache_dir: Path | str | None = None, *,
                       token_slots: int = 2) -> ProverKeys:
    """Verify-only keys for (depth, capacity) from the cache: reads ``vk.bin`` and
    ``meta.json`` only, never the proving key (``pk`` raises ProverError).

    Raises ProverError if the circuit has no cached setup (run :func:`load_or_setup` once)
    or the cached files cannot be read."""
    params = RollupParams(depth=depth, token_slots=token_slots, capacity=capacity)
    digest = circuit_hash(params)
    folder = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / digest
    vk_path, meta_path = folder / "vk.bin", folder / "meta.json"
    if not (vk_path.is_file() and meta_path.is_file()):
        raise ProverError(f"no cached setup for depth={depth} capacity={capacity} in {folder}")
    try:
        meta = json.loads(meta_path.read_text())
        vk = groth16py.VerifyingKey.load(str(vk_path))
    except (OSError, ValueError, groth16py.EncodingError) as err:
        raise ProverError(f"cannot load the verifying key {vk_path}: {err}") from err
    if vk.n_public != n_public_inputs(params):
        raise ProverError(f"cached verifying key has {vk.n_public} public inputs, expected "
                          f"{n_public_inputs(params)}")
    return ProverKeys(params, None, vk, digest, True, meta)


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

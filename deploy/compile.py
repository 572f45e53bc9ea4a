"""Compile the project's Vyper contracts in-process (no solc, no network).

Contracts live in ``deploy/contracts`` (and may ``import`` sibling modules from there).
Some are templates with ``{{NAME}}`` placeholders (e.g. the block capacity), rendered
before compilation; compiled output is cached in memory by source hash and on disk (one
JSON file per compiler version, contract name, source and sibling modules) under
``$ORACLE_VYPER_CACHE`` or ``<repo>/.cache/vyper``, so each ``oracle-gov`` call does not
pay the ~3 s compile again. The disk cache is best-effort: unreadable or unwritable entries
are ignored and the contract is compiled.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from deploy.errors import CompileError

CONTRACTS_DIR = Path(__file__).resolve().parent / "contracts"


@dataclass(frozen=True)
class CompiledContract:
    """ABI and deployable bytecode of one compiled contract."""

    name: str
    abi: tuple[dict[str, Any], ...]
    bytecode: bytes
    source_hash: str
    runtime_bytecode: bytes = b""

    @property
    def abi_hash(self) -> str:
        """keccak-free stable hash of the ABI (sha256 of its canonical JSON)."""
        return hashlib.sha256(json.dumps(self.abi, sort_keys=True).encode()).hexdigest()


def render(source: str, params: dict[str, object] | None = None) -> str:
    """Replace ``{{NAME}}`` placeholders; refuse to compile a template with one left over."""
    for key, value in (params or {}).items():
        source = source.replace("{{" + key + "}}", str(value))
    if "{{" in source:
        start = source.index("{{")
        raise CompileError(f"unrendered template placeholder {source[start:start + 40]!r}")
    return source


def compile_source(name: str, source: str, search_paths: tuple[Path, ...] = (CONTRACTS_DIR,)
                   ) -> CompiledContract:
    """Compile Vyper ``source`` (``name`` is used in errors and as the contract name)."""
    return _compile_cached(name, source, tuple(str(p) for p in search_paths))


def vyper_cache_dir() -> Path:
    """``$ORACLE_VYPER_CACHE`` or ``<repo>/.cache/vyper``."""
    override = os.environ.get("ORACLE_VYPER_CACHE")
    return Path(override) if override else CONTRACTS_DIR.parents[1] / ".cache" / "vyper"


def _cache_key(name: str, source: str, search_paths: tuple[str, ...]) -> str:
    # the installed distribution's version: importing vyper itself costs ~1 s
    digest = hashlib.sha256(f"{metadata.version('vyper')}\0{name}\0{source}".encode())
    for folder in search_paths:  # imported modules change the output too
        for module in sorted(Path(folder).rglob("*.vy*")):
            digest.update(str(module.relative_to(folder)).encode() + b"\0")
            digest.update(module.read_bytes())
    return digest.hexdigest()


def _read_cached(path: Path) -> CompiledContract | None:
    try:
        doc = json.loads(path.read_text())
        return CompiledContract(name=doc["name"], abi=tuple(doc["abi"]),
                                bytecode=bytes.fromhex(doc["bytecode"]),
                                source_hash=doc["source_hash"],
                                runtime_bytecode=bytes.fromhex(doc["runtime_bytecode"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_cached(path: Path, contract: CompiledContract) -> None:
    doc = {"name": contract.name, "abi": list(contract.abi),
           "bytecode": contract.bytecode.hex(), "source_hash": contract.source_hash,
           "runtime_bytecode": contract.runtime_bytecode.hex()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        temp.write_text(json.dumps(doc))
        temp.replace(path)  # atomic: a concurrent reader sees the old file or the new one
    except OSError:
        pass  # best-effort: a read-only install compiles every time


@functools.lru_cache(maxsize=128)
def _compile_cached(name: str, source: str, search_paths: tuple[str, ...]) -> CompiledContract:
    path = vyper_cache_dir() / f"{_cache_key(name, source, search_paths)}.json"
    cached = _read_cached(path)
    if cached is not None:
        return cached
    contract = _compile(name, source, search_paths)
    _write_cached(path, contract)
    return contract


def _compile(name: str, source: str, search_paths: tuple[str, ...]) -> CompiledContract:
    import vyper
    from vyper.compiler.input_bundle import FilesystemInputBundle

    bundle = FilesystemInputBundle([Path(p) for p in search_paths])
    try:
        out = vyper.compile_code(
            source,
            contract_path=f"{name}.vy",
            input_bundle=bundle,
            output_formats=["abi", "bytecode", "bytecode_runtime"],
        )
    except Exception as err:  # vyper raises many unrelated exception types
        raise CompileError(f"vyper failed to compile {name}: {err}") from err
    bytecode = bytes.fromhex(str(out["bytecode"]).removeprefix("0x"))
    return CompiledContract(
        name=name,
        abi=tuple(out["abi"]),
        bytecode=bytecode,
        source_hash=hashlib.sha256(source.encode()).hexdigest(),
        runtime_bytecode=bytes.fromhex(str(out["bytecode_runtime"]).removeprefix("0x")),
    )


def compile_file(relative: str, params: dict[str, object] | None = None) -> CompiledContract:
    """Compile ``deploy/contracts/<relative>`` after rendering its template parameters."""
    path = CONTRACTS_DIR / relative
    if not path.is_file():
        raise CompileError(f"no contract at {path}")
    source = render(path.read_text(), params)
    return compile_source(path.stem, source, (CONTRACTS_DIR, path.parent))

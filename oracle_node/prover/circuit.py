"""The circom source of the block circuit, rendered for given parameters, and its hash.

The template ``circuits/rollup_block.circom`` holds the generic templates; rendering
appends the ``main`` component for (depth D, token slots T, capacity K). The content hash
(rendered source + the circomlib files it includes + the groth16py version) keys the setup
cache, so any change to the circuit or its libraries forces a new setup.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import groth16py

from oracle_node.rollup.state import RollupParams

TEMPLATE = Path(__file__).with_name("circuits") / "rollup_block.circom"
CIRCOMLIB_FILES = ("poseidon.circom", "poseidon_constants.circom", "bitify.circom",
                   "comparators.circom", "aliascheck.circom", "compconstant.circom")


def circomlib_dir() -> str:
    """The circom-2 circomlib vendored in groth16py (the ``link_libraries`` include dir)."""
    return str(groth16py.circomlib_path(2))


def render_circuit(params: RollupParams) -> str:
    """The full circom source of the block circuit for ``params``."""
    main = ("component main {public [old_root, new_root, block_number, pubdata]} = "
            f"RollupBlock({params.depth}, {params.token_slots}, {params.capacity});\n")
    return TEMPLATE.read_text(encoding="utf-8") + "\n" + main


@functools.cache
def _circomlib_digest() -> str:
    digest = hashlib.sha256()
    for name in CIRCOMLIB_FILES:
        path = os.path.join(circomlib_dir(), name)
        if os.path.exists(path):
            with open(path, "rb") as fh:
                digest.update(name.encode() + b"\0" + fh.read())
    return digest.hexdigest()


def circuit_hash(params: RollupParams) -> str:
    """Content hash of the rendered source, the included circomlib and the groth16py version."""
    digest = hashlib.sha256()
    digest.update(render_circuit(params).encode())
    digest.update(_circomlib_digest().encode())
    digest.update(str(groth16py.__version__).encode())
    return digest.hexdigest()


def n_public_inputs(params: RollupParams) -> int:
    """``3 + 2k`` (docs/protocol.md §3)."""
    return 3 + 2 * params.capacity

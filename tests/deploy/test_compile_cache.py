"""The on-disk Vyper compile cache: hit, miss on any input change, and corrupt entries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy import compile as vyc

SOURCE = """
# pragma version ~=0.4.3
@external
@view
def answer() -> uint256:
    return 42
"""


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("ORACLE_VYPER_CACHE", str(tmp_path / "cache"))
    vyc._compile_cached.cache_clear()
    yield tmp_path / "cache"
    vyc._compile_cached.cache_clear()


def test_second_compile_comes_from_disk(cache: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    modules = tmp_path / "modules"
    modules.mkdir()
    first = vyc.compile_source("Answer", SOURCE, (modules,))
    [entry] = list(cache.glob("*.json"))
    vyc._compile_cached.cache_clear()

    def no_compiler(*args: object) -> vyc.CompiledContract:
        raise AssertionError("compiled again")

    monkeypatch.setattr(vyc, "_compile", no_compiler)
    assert vyc.compile_source("Answer", SOURCE, (modules,)) == first
    (modules / "lib.vy").write_text("x: uint256\n")  # a sibling module changes the key
    vyc._compile_cached.cache_clear()
    with pytest.raises(AssertionError, match="compiled again"):
        vyc.compile_source("Answer", SOURCE, (modules,))
    entry.write_text("{not json")  # a corrupt entry is ignored, then rewritten
    (modules / "lib.vy").unlink()
    monkeypatch.undo()
    monkeypatch.setenv("ORACLE_VYPER_CACHE", str(cache))
    vyc._compile_cached.cache_clear()
    assert vyc.compile_source("Answer", SOURCE, (modules,)) == first
    assert vyc._read_cached(entry) == first


def test_unwritable_cache_still_compiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("ORACLE_VYPER_CACHE", str(blocker / "cache"))
    vyc._compile_cached.cache_clear()
    try:
        assert vyc.compile_source("Answer", SOURCE, (tmp_path,)).bytecode
    finally:
        vyc._compile_cached.cache_clear()

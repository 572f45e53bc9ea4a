"""Start and stop every process of a cluster, even on Ctrl-C or a crash.

Each child runs in its own session (its own process group) so that stopping it also stops
whatever it started. The supervisor registers an ``atexit`` hook and SIGTERM/SIGHUP handlers
so that no anvil, node or sequencer outlives the harness unless ``--keep`` detaches them.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from testnet.harness.errors import HarnessError


@dataclass
class Child:
    """One supervised process: a name, its Popen handle and its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        """The child's pid (also its process-group id)."""
        return int(self.process.pid)

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process.poll() is None


def group_alive(pid: int) -> bool:
    """True while process group ``pid`` has a member this user may signal."""
    try:
        os.killpg(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def kill_group(pid: int, *, timeout: float = 5.0) -> bool:
    """SIGTERM the process group ``pid``, SIGKILL it after ``timeout``; True if it was running."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not group_alive(pid):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    return True


def kill_unfinished(processes: Iterable[subprocess.Popen[Any] | None]) -> None:
    """SIGKILL and reap each of ``processes`` (``None`` entries skipped) still running: the
    cleanup of short-lived helper processes (``oracle-gov``, ``oracle-node init``) after an
    error or interrupt."""
    for proc in processes:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


class Supervisor:
    """Owns the cluster's child processes; :meth:`stop_all` ends them in reverse start order."""

    def __init__(self) -> None:
        self.children: list[Child] = []
        self.detached = False
        self._stopped = False
        atexit.register(self.stop_all)
        self._previous: dict[int, object] = {}
        for sig in (signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(ValueError):  # not in the main thread
                self._previous[sig] = signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stop_all()
        raise SystemExit(128 + signum)

    def start(self, name: str, argv: Sequence[str], *, log_path: Path,
              env: dict[str, str] | None = None, cwd: Path | None = None) -> Child:
        """Start ``argv`` in a new session with stdout/stderr appended to ``log_path``."""
        if self._stopped:
            raise HarnessError("the supervisor is already stopped")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            try:
                proc = subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=env, cwd=cwd,
                                        start_new_session=True)
            except OSError as err:
                raise HarnessError(f"cannot start {name}: {err}") from err
        child = Child(name, proc, log_path)
        self.children.append(child)
        return child

    def adopt(self, name: str, process: subprocess.Popen[bytes], log_path: Path) -> Child:
        """Supervise a process started elsewhere (e.g. anvil via ``start_anvil``)."""
        child = Child(name, process, log_path)
        self.children.append(child)
        return child

    def get(self, name: str) -> Child:
        """The child called ``name``; raise HarnessError if there is none."""
        for child in self.children:
            if child.name == name:
                return child
        raise HarnessError(f"no process called {name!r}")

    def stop(self, name: str) -> None:
        """Stop one child (its whole process group)."""
        child = self.get(name)
        kill_group(child.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.process.wait(timeout=5)

    def detach(self) -> None:
        """Leave the children running when the harness exits (``--keep``)."""
        self.detached = True
        self._restore()

    def _restore(self) -> None:
        for sig, previous in self._previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, previous)  # type: ignore[arg-type]
        self._previous = {}
        atexit.unregister(self.stop_all)

    def stop_all(self) -> None:
        """Stop every child in reverse start order (idempotent; a no-op once detached)."""
        if self._stopped or self.detached:
            return
        self._stopped = True
        for child in reversed(self.children):
            if child.alive():
                kill_group(child.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=5)
        self._restore()

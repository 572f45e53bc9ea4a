"""Process checks shared by the harness system tests."""

from __future__ import annotations

import os


def pid_running(pid: int) -> bool:
    """Whether a process with ``pid`` exists (a run must leave none of its own behind)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

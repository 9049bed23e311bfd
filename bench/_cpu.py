"""CPU time of a process and its descendants, read from /proc (Linux)."""

from __future__ import annotations

import os
from pathlib import Path


def _own(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its live descendants; NaN if ``pid`` is gone.

    A descendant that exited is not counted: read before and after a run while the servers
    live, and subtract. A daemon (the embedded redis-server) is nobody's descendant.
    """
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        try:
            total += _own(current)
            stack += _children(current)
        except (OSError, ValueError):
            if current == pid:
                return float("nan")
    return total

"""Process helpers shared by the terminal tool tests."""

from __future__ import annotations

import os
import time
from pathlib import Path


def is_gone(pid: int) -> bool:
    """Dead, or a zombie nobody reaped (some containers' init never reaps orphans)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def wait_until_gone(pids: list[int], seconds: float = 15.0) -> list[int]:
    """Poll generously: the assertion is about the end state, not about timing."""
    deadline = time.monotonic() + seconds
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if not is_gone(pid)]
        time.sleep(0.1)
    return alive

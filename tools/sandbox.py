"""The optional sandbox of the terminal tool: bubblewrap (``bwrap``).

Inside it the working directory is writable and the rest of the file system is
read-only; ``/tmp`` is a fresh private folder, ``/proc`` shows only the sandbox's own
processes (so a command cannot read the agent's environment through
``/proc/$PPID/environ``), and there is no network unless it is allowed. Commands keep
running in one process group, so a timeout or an interrupt still stops all of them.

``sandbox_problem`` says, before any command runs, why the sandbox cannot work here
(bubblewrap missing, or not allowed to create its namespaces) and what to do.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BWRAP", "INSTALL_HINT", "Sandbox", "sandbox_problem"]

BWRAP = "bwrap"
INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap; Fedora: sudo dnf install bubblewrap; "
    "Arch: sudo pacman -S bubblewrap)"
)
_PROBE_TIMEOUT = 20.0  # generous: a loaded machine may take a while to set up namespaces
_probed: dict[tuple[str, bool, str], str | None] = {}


@dataclass(frozen=True)
class Sandbox:
    """How commands are confined: ``network`` allows the network; ``bwrap`` is the program
    (None: ``bwrap`` found on PATH)."""

    network: bool = False
    bwrap: str | None = None

    def program(self) -> str | None:
        """The bubblewrap executable, or None when it is not installed."""
        return shutil.which(self.bwrap or BWRAP)

    def wrap(self, argv: list[str], workdir: Path) -> list[str]:
        """``argv`` run inside the sandbox, in ``workdir``. Raises FileNotFoundError when
        bubblewrap is not installed."""
        program = self.program()
        if program is None:
            raise FileNotFoundError(f"bubblewrap ({self.bwrap or BWRAP}) is not installed; {INSTALL_HINT}")
        work = str(workdir)
        options = [
            "--ro-bind", "/", "/",
            "--dev", "/dev",
            "--proc", "/proc",
            "--tmpfs", "/tmp",
            "--bind", work, work,  # after /tmp: a workdir under /tmp stays the real one
            "--chdir", work,
            "--unshare-all",
            "--die-with-parent",
        ]  # fmt: skip
        if self.network:
            options.append("--share-net")
        return [program, *options, "--", *argv]


def sandbox_problem(sandbox: Sandbox, workdir: Path) -> str | None:
    """Why ``sandbox`` cannot run commands in ``workdir`` here, or None when it can.
    The answer is probed once (a trivial command in the sandbox) and remembered."""
    program = sandbox.program()
    if program is None:
        return (
            f"--sandbox needs bubblewrap (the {sandbox.bwrap or BWRAP} program), which is not installed here: "
            f"{INSTALL_HINT}; or run without --sandbox (and without sandbox = true in config.toml)"
        )
    key = (program, sandbox.network, str(workdir))
    if key not in _probed:
        _probed[key] = _probe(sandbox, workdir, program)
    return _probed[key]


def _probe(sandbox: Sandbox, workdir: Path, program: str) -> str | None:
    try:
        done = subprocess.run(
            sandbox.wrap(["/bin/sh", "-c", "exit 0"], workdir),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        detail = str(exc)
    else:
        if done.returncode == 0:
            return None
        detail = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    return (
        f"bubblewrap ({program}) cannot create its sandbox here: {detail}. Unprivileged user namespaces "
        "may be disabled (sysctl kernel.unprivileged_userns_clone=1 or user.max_user_namespaces), or this "
        "container does not allow them; allow them, or run without --sandbox"
    )

"""Where a sandbox test can try to escape to: a writable folder outside the workdir and
outside /tmp (which the sandbox replaces with a private one, so a write there "works")."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def escape_target(name: str) -> Path:
    """A path for ``name`` in the checkout, the home folder or the current folder,
    whichever is writable and not under /tmp; the test is skipped when none is."""
    private = Path("/tmp").resolve()
    for folder in (ROOT, Path.home(), Path.cwd()):
        folder = folder.resolve()
        if folder != private and private not in folder.parents and os.access(folder, os.W_OK):
            return folder / f"{name}-{os.getpid()}"
    pytest.skip(f"no writable folder outside {tempfile.gettempdir()} to try an escape to")

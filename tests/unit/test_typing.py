"""The public surface type-checks under mypy in strict mode."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = [
    "agent/__init__.py",
    "agent/agent.py",
    "agent/result.py",
    "agent/events.py",
    "agent/messages.py",
    "tools/base.py",
    "tools/decorator.py",
    "agent/testing/__init__.py",
    "agent/testing/scripted.py",
    "agent/batch/__init__.py",
]


def test_public_surface_is_strictly_typed() -> None:
    pytest.importorskip("mypy")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", *PUBLIC],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_is_clean() -> None:
    pytest.importorskip("ruff")
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "agent", "tools", "tests", "bench", "examples", "run_agent.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_public_name_has_a_docstring() -> None:
    import inspect

    import agent
    import agent.batch
    import agent.testing

    missing = []
    for module in (agent, agent.testing, agent.batch):
        for name in module.__all__:
            value = getattr(module, name)
            doc = getattr(value, "__doc__", None) or ""
            generated = doc.startswith(f"{name}(")  # the dataclass default, not a docstring
            if (inspect.isclass(value) or inspect.isfunction(value)) and (not doc or generated):
                missing.append(f"{module.__name__}.{name}")
    assert missing == []

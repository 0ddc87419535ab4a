"""``stayline batch``: its flags, its errors before anything runs, and its startup cost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli.batch import build_parser
from agent.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
HEAVY = {"anthropic", "openai", "httpx", "rich", "prompt_toolkit", "ray"}

_PROBE = """
import json, runpy, sys
sys.argv = ["run_agent.py", *json.loads(sys.argv[1])]
try:
    runpy.run_path("run_agent.py", run_name="__main__")
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _modules_after(*argv: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(list(argv))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["code"] == 0
    return set(report["modules"])


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith("STAYLINE_")}
    env.update(PYTHONPATH=str(ROOT), STAYLINE_HOME=str(tmp_path / "home"))
    return env


def _run(tmp_path: Path, *argv: str, prelude: str = "") -> subprocess.CompletedProcess[str]:
    code = f"{prelude}\nimport sys\nfrom agent.cli.main import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *argv],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_batch_help_imports_no_sdk_ui_library_nor_ray() -> None:
    loaded = _modules_after("batch", "--help")
    assert not {name.split(".")[0] for name in loaded} & HEAVY
    assert "agent.agent" not in loaded and "agent.batch" not in loaded


def test_the_main_help_does_not_load_the_batch_runner() -> None:
    loaded = _modules_after("--help")
    assert "agent.batch" not in loaded and "agent.cli.batch" not in loaded and "ray" not in loaded


def test_the_flags_of_single_shot_are_there(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["t.jsonl", "--out", "r.jsonl", "--provider", "openai", "--model", "gpt-4.1", "--fallback", "openai:gpt-4o"]
    argv += ["--stale-timeout", "30", "--max-iterations", "5", "--workers", "4", "--ray", "--yolo"]
    args = build_parser().parse_args(argv)
    assert (args.tasks, args.out, args.provider, args.model) == ("t.jsonl", "r.jsonl", "openai", "gpt-4.1")
    assert (args.stale_timeout, args.max_iterations, args.workers, args.ray, args.yolo) == (30.0, 5, 4, "", True)
    assert args.fallbacks == ["openai:gpt-4o"]
    assert build_parser().parse_args(["t", "--out", "r", "--ray", "10.0.0.5:6379"]).ray == "10.0.0.5:6379"
    assert build_parser().parse_args(["t", "--out", "r"]).ray is None
    assert main(["batch", "tasks.jsonl"]) == 2  # --out is required
    assert "--out" in capsys.readouterr().err


def test_ray_without_ray_installed_says_what_to_install(tmp_path: Path) -> None:
    tasks = tmp_path / "t.jsonl"
    tasks.write_text('{"id": "a", "prompt": "x"}\n')
    done = _run(
        tmp_path,
        "batch", str(tasks), "--out", str(tmp_path / "r.jsonl"), "--ray", "--provider", "custom",
        "--base-url", "http://127.0.0.1:9/v1", "--model", "m",
        prelude="import sys; sys.modules['ray'] = None  # as if Ray were not installed",
    )  # fmt: skip
    assert done.returncode == 2
    assert "pip install 'stayline[ray]'" in done.stderr
    assert not (tmp_path / "r.jsonl").exists()


def test_the_ray_engine_without_ray_raises_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.batch import ray_engine
    from agent.batch.ray_engine import RayEngine, RayNotInstalled

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails
    with pytest.raises(RayNotInstalled, match=r"pip install 'stayline\[ray\]'"):
        ray_engine.require_ray()
    with pytest.raises(RayNotInstalled, match="not installed"):
        RayEngine(workers=1).connect()


def test_a_missing_task_file_is_a_usage_error(tmp_path: Path) -> None:
    done = _run(tmp_path, "batch", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "r.jsonl"),
                "--provider", "custom", "--base-url", "http://127.0.0.1:9/v1", "--model", "m")  # fmt: skip
    assert done.returncode == 2
    assert "cannot read the task file" in done.stderr and "nope.jsonl" in done.stderr


def test_a_missing_key_fails_before_any_task_runs(tmp_path: Path) -> None:
    tasks = tmp_path / "t.jsonl"
    tasks.write_text('{"id": "a", "prompt": "x"}\n')
    done = _run(tmp_path, "batch", str(tasks), "--out", str(tmp_path / "r.jsonl"), "--provider", "anthropic")
    assert done.returncode == 2
    assert "ANTHROPIC_API_KEY" in done.stderr
    assert not (tmp_path / "r.jsonl").exists()

"""The command line's sessions, config file, fallbacks and approval, end to end:
``run_agent.py`` as a subprocess against the provider simulator, with its own
``STAYLINE_HOME`` per test.

Timeouts are generous safety nets, not assertions about speed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.testing import HttpError, ProviderSimulator, RecordedRequest, Reply, Silence, Text, ToolCall

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 60.0
_ENV_DROPPED = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY")

SETUPS: dict[str, Callable[[ProviderSimulator], list[str]]] = {
    "anthropic": lambda sim: [
        "--provider", "anthropic", "--base-url", sim.base_url, "--api-key", "k", "--model", "claude-sonnet-4-6",
    ],
    "openai": lambda sim: [
        "--provider", "openai", "--base-url", sim.openai_base_url, "--api-key", "k", "--model", "gpt-4o",
    ],
}  # fmt: skip


@pytest.fixture
def sim() -> Iterator[ProviderSimulator]:
    with ProviderSimulator() as simulator:
        yield simulator


@pytest.fixture(params=sorted(SETUPS))
def wire_setup(request: pytest.FixtureRequest, sim: ProviderSimulator) -> list[str]:
    return SETUPS[request.param](sim)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def work(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


def cli_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _ENV_DROPPED and not k.startswith("STAYLINE_") and not k.startswith("PYTEST_")
    }
    env.update(PYTHONPATH=str(ROOT), PYTHONIOENCODING="utf-8", PYTHONUNBUFFERED="1", STAYLINE_HOME=str(home))
    env.update(extra or {})
    return env


def run_cli(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "run_agent.py", *args],
        cwd=ROOT,
        env=cli_env(home, env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=RUN_TIMEOUT,
    )


def messages_text(request: RecordedRequest) -> str:
    return json.dumps(request.body["messages"], ensure_ascii=False)


def last_message_text(request: RecordedRequest) -> str:
    return json.dumps(request.body["messages"][-1], ensure_ascii=False)


def list_sessions(home: Path) -> list[dict[str, Any]]:
    proc = run_cli(home, "sessions", "--json")
    assert proc.returncode == 0, proc.stderr
    value = json.loads(proc.stdout)
    assert isinstance(value, list)
    return value


# --- sessions -------------------------------------------------------------------------------


def test_session_id_in_json_and_the_sessions_list(sim: ProviderSimulator, home: Path) -> None:
    sim.script(Reply(Text("Hello.")))
    proc = run_cli(home, *SETUPS["anthropic"](sim), "--json", "-q", "say hello")
    assert proc.returncode == 0, proc.stderr
    session_id = json.loads(proc.stdout)["session_id"]
    assert isinstance(session_id, str) and session_id

    [listed] = list_sessions(home)
    assert listed["id"] == session_id and listed["title"] == "say hello"
    assert listed["model"] == "claude-sonnet-4-6" and listed["provider"] == "anthropic"
    assert listed["message_count"] == 2 and listed["last_used"].endswith("+00:00")

    table = run_cli(home, "sessions")
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.splitlines()
    assert header.split() == ["ID", "LAST", "USED", "MODEL", "TITLE"]
    assert row.startswith(session_id) and "just now" in row and "claude-sonnet-4-6" in row
    assert row.endswith("say hello")


def test_sessions_are_listed_newest_first(sim: ProviderSimulator, home: Path) -> None:
    sim.behaviour(lambda request: Reply(Text("ok")))
    ids = []
    for prompt in ("first", "second"):
        proc = run_cli(home, *SETUPS["openai"](sim), "--json", "-q", prompt)
        assert proc.returncode == 0, proc.stderr
        ids.append(json.loads(proc.stdout)["session_id"])
    assert [s["id"] for s in list_sessions(home)] == ids[::-1]
    assert [s["title"] for s in list_sessions(home)] == ["second", "first"]


def test_sessions_on_a_fresh_home(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    assert list_sessions(fresh) == []
    proc = run_cli(fresh, "sessions")
    assert proc.returncode == 0 and proc.stdout == "" and "no sessions yet" in proc.stderr
    assert not fresh.exists()  # listing creates nothing


def test_continue_sends_the_previous_turns(
    sim: ProviderSimulator, wire_setup: list[str], home: Path, work: Path
) -> None:
    sim.script(
        Reply(Text("Writing it."), ToolCall("write_file", {"path": "a.txt", "content": "A"}, id="call_first")),
        Reply(Text("Wrote a.txt.")),
        Reply(Text("Still here.")),
    )
    first = run_cli(home, *wire_setup, "--workdir", str(work), "--json", "-q", "write a.txt")
    assert first.returncode == 0, first.stderr
    second = run_cli(home, *wire_setup, "--workdir", str(work), "--continue", "--json", "-q", "are you there?")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["final_text"] == "Still here."
    assert json.loads(second.stdout)["session_id"] == json.loads(first.stdout)["session_id"]
    assert "continuing session" in second.stderr

    assert len(sim.requests) == 3
    assert [r.rejected for r in sim.requests] == [None, None, None]
    sent = messages_text(sim.requests[2])
    for earlier in ("write a.txt", "call_first", "write_file", "Wrote a.txt.", "are you there?"):
        assert earlier in sent
    assert len(list_sessions(home)) == 1  # continued, not a new session


def test_resume_by_id_and_an_unknown_id(sim: ProviderSimulator, home: Path) -> None:
    setup = SETUPS["openai"](sim)
    sim.script(Reply(Text("One.")), Reply(Text("Two.")), Reply(Text("Back to one.")))
    first = json.loads(run_cli(home, *setup, "--json", "-q", "first topic").stdout)["session_id"]
    run_cli(home, *setup, "-q", "second topic")
    proc = run_cli(home, *setup, "--resume", first, "-q", "more on that")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Back to one.\n"
    sent = messages_text(sim.requests[2])
    assert "first topic" in sent and "second topic" not in sent

    unknown = run_cli(home, *setup, "--resume", "nope123", "-q", "hi")
    assert unknown.returncode == 2
    assert "no session with id 'nope123'" in unknown.stderr and "stayline sessions" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    assert len(sim.requests) == 3  # nothing sent


def test_continue_without_any_session_exits_2(sim: ProviderSimulator, home: Path) -> None:
    proc = run_cli(home, *SETUPS["openai"](sim), "--continue", "-q", "hi")
    assert proc.returncode == 2
    assert "no session to continue" in proc.stderr
    assert sim.requests == []


def test_no_session_saves_nothing(sim: ProviderSimulator, home: Path) -> None:
    sim.script(Reply(Text("Hi.")))
    proc = run_cli(home, *SETUPS["openai"](sim), "--no-session", "--json", "-q", "hi")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["session_id"] is None
    assert list_sessions(home) == []


def test_session_flags_exclude_each_other(home: Path) -> None:
    proc = run_cli(home, "--continue", "--no-session", "-q", "hi")
    assert proc.returncode == 2 and "not allowed with" in proc.stderr


# --- resume after kill -9 -------------------------------------------------------------------


def test_continue_after_kill_9_in_the_middle_of_a_turn(
    sim: ProviderSimulator, wire_setup: list[str], home: Path, work: Path
) -> None:
    sim.script(
        Reply(Text("Writing notes."), ToolCall("write_file", {"path": "notes.txt", "content": "N"}, id="call_w1"))
    )
    sim.behaviour(lambda request: Reply(Silence(30)))  # the second request stalls
    argv = [*wire_setup, "--workdir", str(work), "--stale-timeout", "60", "-q", "write notes.txt"]
    proc = subprocess.Popen(
        [sys.executable, "run_agent.py", *argv],
        cwd=ROOT,
        env=cli_env(home),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert sim.wait_for_requests(2, timeout=30), "the CLI never sent its second request"
    finally:
        proc.kill()  # SIGKILL: no cleanup of any kind
        proc.communicate(timeout=20)
    assert proc.returncode == -9
    assert (work / "notes.txt").read_text() == "N"

    sim.behaviour(None)
    sim.script(Reply(Text("Carrying on.")))
    resumed = run_cli(home, *wire_setup, "--workdir", str(work), "--continue", "-q", "go on")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout == "Carrying on.\n"
    request = sim.requests[-1]
    assert request.rejected is None
    sent = messages_text(request)
    for earlier in ("write notes.txt", "Writing notes.", "call_w1", "write_file", "wrote", "go on"):
        assert earlier in sent, earlier


# --- config file --------------------------------------------------------------------------------


def test_a_bad_config_file_exits_2_naming_the_key_and_the_file(home: Path) -> None:
    (home / "config.toml").write_text('[providers.openrouter]\nstale_timeout = "soon"\n', encoding="utf-8")
    proc = run_cli(home, "--provider", "openai", "--api-key", "k", "-q", "hi")
    assert proc.returncode == 2
    assert "config.toml" in proc.stderr and "providers.openrouter.stale_timeout" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_a_toml_syntax_error_exits_2(home: Path) -> None:
    (home / "config.toml").write_text("provider = \n", encoding="utf-8")
    proc = run_cli(home, "-q", "hi")
    assert proc.returncode == 2
    assert "config.toml: not valid TOML" in proc.stderr and "line 1" in proc.stderr


def test_config_option_names_another_file(home: Path, tmp_path: Path) -> None:
    proc = run_cli(home, "--config", str(tmp_path / "missing.toml"), "-q", "hi")
    assert proc.returncode == 2 and "missing.toml does not exist" in proc.stderr


def test_the_config_file_chooses_provider_endpoint_and_key_variable(sim: ProviderSimulator, home: Path) -> None:
    config = home / "elsewhere.toml"
    config.write_text(
        f'provider = "openai"\nmodel = "gpt-4o"\nmax_retries = 0\n\n[providers.openai]\n'
        f'base_url = "{sim.openai_base_url}"\nkey_env = "MY_TEST_KEY"\n',
        encoding="utf-8",
    )
    missing = run_cli(home, "--config", str(config), "-q", "hi")
    assert missing.returncode == 2 and "MY_TEST_KEY" in missing.stderr
    sim.script(Reply(Text("Configured.")))
    proc = run_cli(home, "--config", str(config), "-q", "hi", env={"MY_TEST_KEY": "sekrit"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Configured.\n"
    [request] = sim.requests
    assert request.body["model"] == "gpt-4o"
    assert request.headers.get("authorization") == "Bearer sekrit"


# --- fallback ------------------------------------------------------------------------------------


def test_fallback_flag_finishes_the_turn_when_the_primary_rejects_the_key(sim: ProviderSimulator, home: Path) -> None:
    sim.behaviour(lambda request: HttpError(401, "invalid x-api-key"))
    with ProviderSimulator() as backup:
        backup.script(Reply(Text("From the fallback.")))
        fallback = f"custom:gpt-4o@{backup.openai_base_url}"
        proc = run_cli(home, *SETUPS["anthropic"](sim), "--fallback", fallback, "--json", "-q", "hi")
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout)
        assert result["status"] == "completed" and result["final_text"] == "From the fallback."
        assert len(sim.requests) == 1 and len(backup.requests) == 1
        assert backup.requests[0].rejected is None and backup.requests[0].body["model"] == "gpt-4o"


def test_a_bad_fallback_flag_exits_2(home: Path) -> None:
    proc = run_cli(home, "--provider", "openai", "--api-key", "k", "--fallback", "groq:llama", "-q", "hi")
    assert proc.returncode == 2 and "unknown provider 'groq'" in proc.stderr


# --- approval of dangerous commands -----------------------------------------------------------

# Flagged (force push) and harmless: git cannot even enter the directory.
DANGEROUS = "git -C no-such-dir push --force origin main"


def test_single_shot_refuses_a_dangerous_command(
    sim: ProviderSimulator, wire_setup: list[str], home: Path, work: Path
) -> None:
    sim.script(Reply(ToolCall("terminal", {"command": DANGEROUS})), Reply(Text("Understood.")))
    proc = run_cli(home, *wire_setup, "--workdir", str(work), "-q", "force push")
    assert proc.returncode == 0, proc.stderr
    assert [r.rejected for r in sim.requests] == [None, None]
    result = last_message_text(sim.requests[1])
    assert "refused" in result and "force" in result
    assert "exit code" not in result


def test_yolo_runs_a_dangerous_command(sim: ProviderSimulator, wire_setup: list[str], home: Path, work: Path) -> None:
    sim.script(Reply(ToolCall("terminal", {"command": DANGEROUS})), Reply(Text("It failed.")))
    proc = run_cli(home, *wire_setup, "--workdir", str(work), "--yolo", "-q", "force push")
    assert proc.returncode == 0, proc.stderr
    result = last_message_text(sim.requests[1])
    assert "refused" not in result and "no-such-dir" in result  # git ran and failed harmlessly


def test_approval_yolo_in_the_config_file(sim: ProviderSimulator, home: Path, work: Path) -> None:
    (home / "config.toml").write_text('approval = "yolo"\n', encoding="utf-8")
    sim.script(Reply(ToolCall("terminal", {"command": DANGEROUS})), Reply(Text("It failed.")))
    proc = run_cli(home, *SETUPS["openai"](sim), "--workdir", str(work), "-q", "force push")
    assert proc.returncode == 0, proc.stderr
    assert "refused" not in last_message_text(sim.requests[1])

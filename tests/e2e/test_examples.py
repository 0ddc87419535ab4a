"""The programs in examples/ run against the provider simulator: imported as modules and
called through their ``main``, and as scripts in a subprocess configured by environment
variables, the way a user runs them. examples/test_my_app.py runs under pytest."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import select
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from agent import AIAgent
from agent.testing import HttpError, ProviderSimulator, Reply, Silence, Text, ToolCall

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
# Variables that would point an example somewhere else than the simulator.
_FOREIGN_ENV = (
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "OPENROUTER_API_KEY",
    "STAYLINE_API_KEY",
    "STAYLINE_PROVIDER",
    "STAYLINE_MODEL",
    "STAYLINE_EXAMPLE_BASE_URL",
    "STAYLINE_EXAMPLE_API_KEY",
    "ANTHROPIC_BASE_URL",
    "OPENAI_BASE_URL",
)


def load(name: str) -> ModuleType:
    """Import examples/NAME.py as a module (examples/ is not a package)."""
    module_name = f"stayline_example_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and type hints look the module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _FOREIGN_ENV:
        monkeypatch.delenv(name, raising=False)


def script_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _FOREIGN_ENV}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return {**env, **values}


def run_script(name: str, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), *args],
        cwd=cwd,
        env=script_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


# -- minimal.py ---------------------------------------------------------------------------
def test_minimal_against_a_custom_endpoint(
    sim: ProviderSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.script(Reply(Text("Hello from the simulator.", chunk=5)))
    status = load("minimal").main("hi", base_url=sim.openai_base_url, model="local-model", workdir=tmp_path)
    assert status == 0
    assert capsys.readouterr().out == "status: completed\nHello from the simulator.\n"
    assert sim.requests[0].wire == "openai" and sim.requests[0].rejected is None
    assert sim.requests[0].body["model"] == "local-model"


def test_minimal_against_a_named_provider(
    sim: ProviderSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.script(Reply(Text("Hi.")))
    status = load("minimal").main(
        "hi", provider="anthropic", base_url=sim.base_url, api_key="test-key", workdir=tmp_path
    )
    assert status == 0
    assert capsys.readouterr().out == "status: completed\nHi.\n"
    headers = sim.requests[0].headers
    assert sim.requests[0].wire == "anthropic"
    assert "test-key" in headers.get("x-api-key", "") + headers.get("authorization", "")


def test_minimal_reports_a_failed_turn(
    sim: ProviderSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.script(HttpError(401, "invalid x-api-key"))
    status = load("minimal").main("hi", base_url=sim.openai_base_url, model="m", workdir=tmp_path)
    out = capsys.readouterr().out
    assert status == 1
    assert out.startswith("status: failed\nerror: ") and "401" in out


def test_minimal_reports_a_configuration_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = load("minimal").main("hi", base_url="http://127.0.0.1:9/v1", workdir=tmp_path)  # no model
    assert status == 2
    assert "configuration error" in capsys.readouterr().err


def test_minimal_as_a_script(sim: ProviderSimulator, tmp_path: Path) -> None:
    sim.script(Reply(Text("Scripted hello.")))
    done = run_script(
        "minimal",
        "say hello",
        cwd=tmp_path,
        STAYLINE_EXAMPLE_BASE_URL=sim.anthropic_gateway_url,  # an Anthropic-compatible endpoint
        STAYLINE_MODEL="claude-sonnet-4-6",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "status: completed\nScripted hello.\n"
    assert sim.requests[0].wire == "anthropic" and sim.requests[0].rejected is None
    assert "say hello" in json.dumps(sim.requests[0].body["messages"])


# -- custom_tool.py -----------------------------------------------------------------------
TODO_SCRIPT = (
    Reply(Text("Adding it."), ToolCall("add_task", {"task": {"title": "water the plants", "priority": "high"}})),
    Reply(ToolCall("add_task", {"task": {"title": "buy milk"}})),
    Reply(ToolCall("complete_task", {"title": "buy milk"}), ToolCall("list_tasks", {"show": "all"})),
    Reply(Text("Two tasks, one done.")),
)


@pytest.mark.parametrize("endpoint", ["openai_base_url", "anthropic_gateway_url"])
def test_custom_tool_app(
    sim: ProviderSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str], endpoint: str
) -> None:
    sim.script(*TODO_SCRIPT)
    status = load("custom_tool").main(
        "plants (urgent) and milk; milk is done", base_url=getattr(sim, endpoint), model="m", workdir=tmp_path
    )
    assert status == 0
    assert capsys.readouterr().out == "status: completed\nTwo tasks, one done.\n"
    assert json.loads((tmp_path / "todo.json").read_text()) == [
        {"title": "water the plants", "priority": "high", "done": False},
        {"title": "buy milk", "priority": "normal", "done": True},
    ]
    assert all(r.rejected is None for r in sim.requests)
    tools = json.dumps(sim.requests[0].body["tools"])
    for name in ("add_task", "complete_task", "list_tasks"):
        assert name in tools
    assert "read_file" not in tools  # tools=[...] replaced the built-in ones
    assert '"enum": ["low", "normal", "high"]' in tools  # the dataclass's Literal field
    listed = json.dumps(sim.requests[3].body["messages"])
    assert "water the plants" in listed and "done: 'buy milk'" in listed


def test_custom_tool_as_a_script(sim: ProviderSimulator, tmp_path: Path) -> None:
    sim.script(Reply(ToolCall("add_task", {"task": {"title": "call mum", "priority": "low"}})), Reply(Text("Added.")))
    done = run_script(
        "custom_tool",
        "remind me to call mum",
        cwd=tmp_path,
        STAYLINE_EXAMPLE_BASE_URL=sim.openai_base_url,
        STAYLINE_EXAMPLE_API_KEY="sk-example",
        STAYLINE_MODEL="gpt-4o",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "status: completed\nAdded.\n"
    assert json.loads((tmp_path / "todo.json").read_text())[0]["title"] == "call mum"
    assert sim.requests[0].headers["authorization"] == "Bearer sk-example"


# -- streaming_endpoint.py ----------------------------------------------------------------
def agent_factory(sim: ProviderSimulator, workdir: Path, made: list[AIAgent]) -> Callable[[], AIAgent]:
    def new_agent() -> AIAgent:
        agent = AIAgent(
            provider="anthropic",
            model="claude-sonnet-4-6",
            base_url=sim.base_url,
            api_key="test-key",
            workdir=workdir,
            stale_timeout=30,
        )
        made.append(agent)
        return agent

    return new_agent


def chat_scope(path: str = "/chat", accept: bytes = b"*/*") -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": path, "headers": [(b"accept", accept)], "query_string": b""}


async def call_app(app: Any, scope: dict[str, Any], body: bytes) -> list[dict[str, Any]]:
    """Drive an ASGI app by hand: one request body, a client that never leaves."""
    inbox = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if inbox:
            return inbox.pop()
        await asyncio.Event().wait()  # cancelled by the app when the response is done
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), 60)
    return sent


async def test_endpoint_app_streams_ndjson(sim: ProviderSimulator, tmp_path: Path) -> None:
    endpoint = load("streaming_endpoint")
    sim.script(Reply(Text("Looking."), ToolCall("list_dir", {})), Reply(Text("Hello there", chunk=3)))
    made: list[AIAgent] = []
    app = endpoint.make_app(agent_factory(sim, tmp_path, made))
    sent = await call_app(app, chat_scope(), b'{"prompt": "hi"}')
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    assert dict(sent[0]["headers"])[b"content-type"] == b"application/x-ndjson"
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    events = [json.loads(line) for line in b"".join(m["body"] for m in sent[1:]).splitlines()]
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "turn_started" and "tool_call_finished" in kinds
    assert events[-1]["kind"] == "turn_finished" and events[-1]["status"] == "completed"
    assert events[-1]["final_text"] == "Hello there"
    assert "".join(e["text"] for e in events if e["kind"] == "text_delta") == "Looking.Hello there"
    assert made[0].last_result is not None and made[0].last_result.ok


async def test_endpoint_app_refuses_bad_requests(sim: ProviderSimulator, tmp_path: Path) -> None:
    endpoint = load("streaming_endpoint")
    made: list[AIAgent] = []
    app = endpoint.make_app(agent_factory(sim, tmp_path, made))
    not_found = await call_app(app, chat_scope(path="/other"), b"{}")
    bad = await call_app(app, chat_scope(), b"not json")
    assert not_found[0]["status"] == 404 and bad[0]["status"] == 400
    assert made == [] and sim.requests == []


async def test_endpoint_server_streams_sse(sim: ProviderSimulator, tmp_path: Path) -> None:
    endpoint = load("streaming_endpoint")
    sim.script(Reply(Text("Hello over SSE.", chunk=4)))
    made: list[AIAgent] = []
    server = await endpoint.serve(endpoint.make_app(agent_factory(sim, tmp_path, made)), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    def post() -> tuple[str, str]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/chat", data=b'{"prompt": "hi"}', headers={"accept": "text/event-stream"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.headers["content-type"], response.read().decode()

    try:
        content_type, body = await asyncio.to_thread(post)
    finally:
        server.close()
        await server.wait_closed()
    assert content_type == "text/event-stream"
    frames = [frame.split("\n") for frame in body.strip().split("\n\n")]
    assert all(kind.startswith("event: ") and data.startswith("data: ") for kind, data in frames)
    assert frames[0][0] == "event: turn_started" and frames[-1][0] == "event: turn_finished"
    finished = json.loads(frames[-1][1].removeprefix("data: "))
    assert finished["status"] == "completed" and finished["final_text"] == "Hello over SSE."
    assert made[0].last_result is not None and made[0].last_result.ok


async def test_endpoint_client_leaving_interrupts_the_turn(sim: ProviderSimulator, tmp_path: Path) -> None:
    endpoint = load("streaming_endpoint")
    sim.script(Reply(Text("Partial"), Silence(30)))
    made: list[AIAgent] = []
    server = await endpoint.serve(endpoint.make_app(agent_factory(sim, tmp_path, made)), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = b'{"prompt": "a long answer please"}'
        writer.write(b"POST /chat HTTP/1.1\r\nhost: test\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        received = b""
        while b'"text_delta"' not in received:  # the model has started answering, then stalls
            chunk = await asyncio.wait_for(reader.read(4096), 30)
            assert chunk, f"the server closed the response early: {received!r}"
            received += chunk
        left_at = time.monotonic()
        writer.close()  # the user closes the tab
        closed_at = await asyncio.to_thread(sim.wait_closed, sim.requests[0].connection_id, 10)
        assert closed_at is not None, "the model call went on after the client left"
        assert closed_at - left_at < 10  # long before the 30 s silence ends
        deadline = time.monotonic() + 10
        while made[0].last_result is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert made[0].last_result is not None and made[0].last_result.status == "interrupted"
    finally:
        server.close()
        await server.wait_closed()


def test_endpoint_as_a_script(sim: ProviderSimulator, tmp_path: Path) -> None:
    sim.script(Reply(Text("Served.")))
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "streaming_endpoint.py"), "--port", "0", "--workdir", str(tmp_path)],
        cwd=tmp_path,
        env=script_env(STAYLINE_EXAMPLE_BASE_URL=sim.openai_base_url, STAYLINE_MODEL="gpt-4o"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 60)
        line = process.stdout.readline() if ready else ""
        assert line.startswith("listening on http://"), f"no URL printed: {line!r}"
        request = urllib.request.Request(line.split()[-1], data=b'{"prompt": "hi"}')
        with urllib.request.urlopen(request, timeout=60) as response:
            events = [json.loads(line) for line in response.read().splitlines()]
    finally:
        process.terminate()
        process.wait(30)
    assert events[-1]["kind"] == "turn_finished" and events[-1]["final_text"] == "Served."
    assert sim.requests[0].body["model"] == "gpt-4o"


# -- test_my_app.py -----------------------------------------------------------------------
def test_the_example_tests_pass() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "examples/test_my_app.py", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=script_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout and "failed" not in done.stdout

"""Local model server detection against tiny stdlib HTTP servers on ephemeral ports."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from agent.cli.local_servers import (
    LocalServer,
    detect_local_servers,
    missing_key_help,
    no_key_configured,
    no_key_message,
    run_command,
)


def serve(status: int = 200, body: Any = None, delay: float = 0.0) -> tuple[ThreadingHTTPServer, int]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            time.sleep(delay)
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status if self.path == "/v1/models" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, server.server_address[1]


@pytest.fixture
def servers() -> Iterator[list[ThreadingHTTPServer]]:
    started: list[ThreadingHTTPServer] = []
    yield started
    for server in started:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    """A port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def models(*ids: str, owner: str = "someone") -> dict[str, Any]:
    return {"object": "list", "data": [{"id": i, "object": "model", "owned_by": owner} for i in ids]}


def test_finds_openai_compatible_servers_and_skips_the_rest(servers: list[ThreadingHTTPServer]) -> None:
    ollama, ollama_port = serve(body=models("qwen3-coder", "llama3.2", owner="library"))
    other, other_port = serve(body={"hello": "not a model server"})
    broken, broken_port = serve(status=500, body={"error": "x"})
    garbage, garbage_port = serve(body=b"<html>nope</html>")
    servers += [ollama, other, broken, garbage]
    ports = [(ollama_port, "Ollama"), (other_port, "vLLM"), (broken_port, "x"), (garbage_port, "y"), (free_port(), "z")]
    found = detect_local_servers(timeout=1.0, ports=ports)
    assert found == [LocalServer("Ollama", f"http://127.0.0.1:{ollama_port}/v1", ("qwen3-coder", "llama3.2"))]


def test_the_server_says_what_it_is_whatever_its_port(servers: list[ThreadingHTTPServer]) -> None:
    server, port = serve(body=models("m", owner="llamacpp"))
    servers.append(server)
    assert detect_local_servers(timeout=1.0, ports=[(port, "LM Studio")])[0].name == "llama.cpp"


def test_a_busy_server_is_given_up_quickly_and_reported(servers: list[ThreadingHTTPServer]) -> None:
    server, port = serve(body=models("m"), delay=30.0)
    servers.append(server)
    started = time.monotonic()
    found = detect_local_servers(timeout=0.2, ports=[(port, "slow")])
    assert time.monotonic() - started < 15  # gave up long before the 30 s the server takes
    assert found == [LocalServer("slow", f"http://127.0.0.1:{port}/v1", busy=True)]
    text = no_key_message(found)
    assert f"A server on port {port} did not answer in time" in text
    assert "absent" not in text and "no local model server answered" not in text


def test_only_loopback_is_probed() -> None:
    assert detect_local_servers(ports=[(80, "x")], host="192.168.1.1") == []
    assert detect_local_servers(ports=[(80, "x")], host="example.com") == []


def test_no_key_configured() -> None:
    assert no_key_configured({})
    assert no_key_configured({"ANTHROPIC_API_KEY": ""})
    for variable in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY", "STAYLINE_API_KEY"):
        assert not no_key_configured({variable: "k"})
    assert not no_key_configured({}, base_url="http://127.0.0.1:8080/v1")
    assert not no_key_configured({}, api_key="k")


def test_message_offers_the_server_found() -> None:
    one = LocalServer("Ollama", "http://127.0.0.1:11434/v1", ("qwen3-coder",))
    text = no_key_message([one])
    # The model id is named; the command needs no --model: stayline picks the one listed.
    assert "Found Ollama at http://127.0.0.1:11434/v1 serving model qwen3-coder — run:" in text
    assert "stayline --provider custom --base-url http://127.0.0.1:11434/v1\n" in text
    path = LocalServer("llama.cpp", "http://127.0.0.1:8080/v1", ("/models/gemma-3-270m-it.gguf",))
    text = no_key_message([path])
    assert "serving model /models/gemma-3-270m-it.gguf" in text and "--model" not in text
    many = LocalServer("vLLM", "http://127.0.0.1:8000/v1", tuple(f"m{i}" for i in range(8)))
    text = no_key_message([many])
    assert "--model <model>" in text and "m0, m1, m2, m3, m4 and 3 more" in text
    assert "replace <model>" in text


def test_message_without_a_server_names_the_variables_and_flags() -> None:
    text = no_key_message([])
    for needle in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY", "--provider custom --base-url"):
        assert needle in text
    assert "Traceback" not in text


def test_run_command_quotes() -> None:
    server = LocalServer("LM Studio", "http://127.0.0.1:1234/v1", ("a model; rm", "b"))
    expected = "stayline --provider custom --base-url http://127.0.0.1:1234/v1 --model 'a model; rm'"
    assert run_command(server, "a model; rm") == expected
    assert run_command(server).endswith("--model <model>")


def test_missing_key_help_never_raises() -> None:
    assert "No API key is set" in missing_key_help(timeout=0.1, ports=[(free_port(), "nothing")])

"""No key configured: look for a local model server before telling the user what to set.

``detect_local_servers`` asks 127.0.0.1 on the usual ports of Ollama, llama.cpp,
LM Studio and vLLM (or those of ``STAYLINE_DETECT_PORTS``) for ``GET /v1/models`` (in
parallel, a short timeout each, loopback only, standard library only) and keeps the
ones that answer like an OpenAI-compatible server, and those that accept the connection
but do not answer in time (a server busy generating). ``no_key_message`` turns the
result into what to show: the command line that uses a server found, or exactly which
variable or flag to set; ``offer_local_server`` asks in the chat whether to use one.
Nothing here raises.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import shlex
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

KEY_VARIABLES = (
    ("ANTHROPIC_API_KEY", "Anthropic", "anthropic"),
    ("OPENROUTER_API_KEY", "OpenRouter", "openrouter"),
    ("OPENAI_API_KEY", "OpenAI", "openai"),
    ("STAYLINE_API_KEY", "a custom endpoint (with --base-url)", "custom"),
)
# (port, name): the defaults of the common local servers.
DEFAULT_PORTS: tuple[tuple[int, str], ...] = (
    (11434, "Ollama"),
    (8080, "llama.cpp"),
    (1234, "LM Studio"),
    (8000, "vLLM"),
)
# ``owned_by`` values that identify a server whatever port it runs on.
_OWNERS = {
    "library": "Ollama",
    "llamacpp": "llama.cpp",
    "me": "llama-cpp-python",
    "vllm": "vLLM",
    "organization_owner": "LM Studio",
}
MAX_MODELS = 50
_MAX_BODY = 1_000_000
PORTS_VARIABLE = "STAYLINE_DETECT_PORTS"  # "8081,9000": where else to look


@dataclass(frozen=True, slots=True)
class LocalServer:
    """A server found on this machine; ``busy``: it took the connection but did not
    answer in time (generating for someone else, say), so its models are unknown."""

    name: str
    base_url: str
    models: tuple[str, ...] = ()
    busy: bool = False

    @property
    def port(self) -> str:
        return self.base_url.rsplit(":", 1)[-1].split("/", 1)[0]


def detection_ports(environ: Mapping[str, str] | None = None) -> tuple[tuple[int, str], ...]:
    """The usual ports, then those of ``STAYLINE_DETECT_PORTS`` (bad entries skipped)."""
    env = os.environ if environ is None else environ
    extra: list[tuple[int, str]] = []
    for item in env.get(PORTS_VARIABLE, "").replace(" ", "").split(","):
        if item.isdigit() and 0 < int(item) < 65536 and all(int(item) != p for p, _ in DEFAULT_PORTS):
            extra.append((int(item), "a local server"))
    return DEFAULT_PORTS + tuple(extra)


def no_key_configured(
    environ: Mapping[str, str] | None = None, *, base_url: str | None = None, api_key: str | None = None
) -> bool:
    """True when no provider key variable is set and neither --base-url nor --api-key was given."""
    env = os.environ if environ is None else environ
    if base_url or api_key:
        return False
    return not any(env.get(variable) for variable, _, _ in KEY_VARIABLES)


def detect_local_servers(
    timeout: float = 0.3, ports: Iterable[tuple[int, str]] | None = None, host: str = "127.0.0.1"
) -> list[LocalServer]:
    """The OpenAI-compatible servers answering on ``host`` (loopback only), in port order."""
    try:
        if not ipaddress.ip_address(host).is_loopback:
            return []
    except ValueError:
        return []
    targets = list(detection_ports() if ports is None else ports)
    found: list[LocalServer | None] = [None] * len(targets)

    def probe(index: int, port: int, name: str) -> None:
        try:
            found[index] = _probe(host, port, name, timeout)
        except Exception:  # whatever a stranger on that port answers, it is just "not found"
            found[index] = None

    threads = [
        threading.Thread(target=probe, args=(i, port, name), name=f"stayline-probe-{port}", daemon=True)
        for i, (port, name) in enumerate(targets)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout * 3 + 0.5)  # a connect and a read, each bounded by timeout
    return [server for server in found if server is not None]


def _probe(host: str, port: int, name: str, timeout: float) -> LocalServer | None:
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", "/v1/models", headers={"Accept": "application/json"})
        try:
            response = connection.getresponse()
        except TimeoutError:  # it took the connection: something is there, busy
            return LocalServer(name, f"http://{netloc}/v1", busy=True)
        if response.status != 200:
            return None
        body = json.loads(response.read(_MAX_BODY))
    finally:
        connection.close()
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return None  # something else lives on this port
    entries = [entry for entry in data if isinstance(entry, dict) and isinstance(entry.get("id"), str)]
    owners = {entry.get("owned_by") for entry in entries}
    for owner, known in _OWNERS.items():
        if owner in owners:
            name = known
            break
    models = tuple(entry["id"] for entry in entries[:MAX_MODELS])
    return LocalServer(name, f"http://{netloc}/v1", models)


def run_command(server: LocalServer, model: str | None = None) -> str:
    """The command line that chats with ``server``: without --model when it serves one
    model (stayline picks the one it lists)."""
    command = f"stayline --provider custom --base-url {shlex.quote(server.base_url)}"
    if model is None and len(server.models) == 1:
        return command
    return f"{command} --model {shlex.quote(model) if model else '<model>'}"


def _found_line(server: LocalServer) -> str:
    if server.busy:
        return f"  A server on port {server.port} did not answer in time (busy generating?); when it is free, run:"
    return f"  Found {server.name} at {server.base_url}{_model_list(server.models)} — run:"


def no_key_message(servers: Sequence[LocalServer]) -> str:
    """What to tell a user who has no key configured (several lines, no trailing newline)."""
    if servers:
        lines = ["No API key is set, but a local model server is running:"]
        for server in servers:
            lines.append(_found_line(server))
            lines.append(f"    {run_command(server)}")
        if any(len(server.models) != 1 for server in servers):
            lines.append("  (replace <model> with one of the models listed)")
        lines.append("Or set a provider key: " + ", ".join(variable for variable, _, _ in KEY_VARIABLES[:3]) + ".")
        return "\n".join(lines)
    lines = ["No API key is set and no local model server answered. Set one of:"]
    for variable, label, provider in KEY_VARIABLES[:3]:
        lines.append(f"  export {variable}=...    # {label} (or --provider {provider} --api-key KEY)")
    lines.append(
        "or point stayline at an OpenAI-compatible server: --provider custom --base-url URL --model NAME"
        " (e.g. --base-url http://127.0.0.1:11434/v1 for Ollama; a key, if it needs one, in STAYLINE_API_KEY)."
    )
    return "\n".join(lines)


def find_servers(timeout: float = 0.3, ports: Iterable[tuple[int, str]] | None = None) -> list[LocalServer]:
    """``detect_local_servers`` that never raises."""
    try:
        return detect_local_servers(timeout, ports)
    except Exception:
        return []


def missing_key_help(timeout: float = 0.3, ports: Iterable[tuple[int, str]] | None = None) -> str:
    """Detect local servers and return the message; never raises."""
    return no_key_message(find_servers(timeout, ports))


def _model_list(models: Sequence[str], limit: int = 5) -> str:
    if not models:
        return " (it lists no models yet)"
    if len(models) == 1:
        return f" serving model {models[0]}"
    shown = ", ".join(models[:limit])
    more = f" and {len(models) - limit} more" if len(models) > limit else ""
    return f" (models: {shown}{more})"


Ask = Callable[[str], str]


def offer_local_server(servers: Sequence[LocalServer], ask: Ask, say: Callable[[str], None]) -> tuple[str, str] | None:
    """In the chat: offer each server that answered; returns (base_url, model) of the one
    accepted, or None. ``ask(question)`` reads one answer; ``say`` prints a line."""
    for server in servers:
        if server.busy or not server.models:
            say(_found_line(server).strip() if server.busy else f"{server.name} at {server.base_url} lists no models.")
            continue
        served = server.models[0] if len(server.models) == 1 else f"{len(server.models)} models"
        if not _yes(ask(f"No API key is set. Use {server.name} at {server.base_url} ({served})? [y/N] ")):
            continue
        model = server.models[0] if len(server.models) == 1 else _choose(server.models, ask, say)
        if model is not None:
            return server.base_url, model
    return None


def _yes(answer: str) -> bool:
    return answer.strip().lower() in ("y", "yes")


def _choose(models: Sequence[str], ask: Ask, say: Callable[[str], None]) -> str | None:
    for number, model in enumerate(models, 1):
        say(f"  {number}. {model}")
    answer = ask(f"Which model? [1-{len(models)}] ").strip()
    if answer.isdigit() and 1 <= int(answer) <= len(models):
        return models[int(answer) - 1]
    return answer if answer in models else None


# -- what the command line does when no key is set -------------------------------------


def servers_for(exc: Exception, *, base_url: str | None, api_key: str | None) -> list[LocalServer] | None:
    """No key anywhere: the local servers to offer instead (None when the error is not
    a missing key, or a key or an endpoint was configured, so the error is about that)."""
    from agent.errors import MissingKeyError

    if not isinstance(exc, MissingKeyError) or not no_key_configured(base_url=base_url, api_key=api_key):
        return None
    return find_servers()


def offer_on_terminal(servers: Sequence[LocalServer]) -> tuple[str, str] | None:
    """Ask on the terminal whether to use a server found; (base_url, model) or None.
    What a stranger on a port says (names, model ids) is cleaned before it is shown."""
    from agent.cli.safe_text import clean

    def ask(question: str) -> str:
        try:
            return input(clean(question))
        except EOFError:
            return ""

    return offer_local_server(servers, ask, lambda line: print(clean(line), file=sys.stderr))


def missing_key_text(exc: Exception, servers: Sequence[LocalServer] | None) -> str:
    """The error to print: the missing key, and the servers found (or what to set)."""
    if servers is None:
        return str(exc)
    from agent.cli.safe_text import clean

    return f"{exc}\n{clean(no_key_message(servers))}"

"""Connection bookkeeping and request routing shared by the server and the simulator."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from email.message import Message
from io import BufferedIOBase
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from agent.testing.local_servers import ServerSettings, split_path
from agent.testing.prompt_cache import PromptUsage
from agent.testing.script import Flavour, LocalFlavour, Outcome, RecordedRequest, Wire


@dataclass
class ConnState:
    """Mutable per-connection bookkeeping (snapshots are handed out as ConnectionRecord)."""

    connection_id: int
    peer: tuple[str, int]
    opened_at: float
    sock: socket.socket
    thread: threading.Thread = field(default_factory=threading.current_thread)
    closed_at: float | None = None
    closed_by: Literal["client", "server"] | None = None
    request_count: int = 0


class Hooks(Protocol):
    stopping: threading.Event

    def open_connection(self, sock: socket.socket, peer: tuple[str, int]) -> ConnState: ...

    def mark_closed(self, conn: ConnState, by: Literal["client", "server"]) -> None: ...

    def forget_socket(self, conn: ConnState) -> None: ...

    def record(
        self,
        conn: ConnState,
        wire: Wire,
        flavour: Flavour,
        path: str,
        headers: dict[str, str],
        body: dict[str, Any],
        rejected: str | None,
    ) -> RecordedRequest: ...

    def next_outcome(self, request: RecordedRequest) -> Outcome: ...

    def put_back(self, outcome: Outcome) -> None: ...

    def server_settings(self, flavour: LocalFlavour) -> ServerSettings: ...

    def context_window(self, model: object) -> int | None: ...
    def prompt_usage(self, request: RecordedRequest) -> PromptUsage: ...


def route(path: str) -> tuple[Wire, Flavour] | None:
    p = urlsplit(path).path.rstrip("/")
    local = split_path(p)
    if local is not None:
        return ("openai", local[0]) if local[1].endswith("/chat/completions") else None
    if p.endswith("/v1/messages"):
        return "anthropic", "anthropic"
    if p.endswith("/chat/completions"):
        return "openai", ("openrouter" if "/api/v1/" in p else "openai")
    return None


def guess_route(path: str) -> tuple[Wire, Flavour]:
    local = split_path(urlsplit(path).path)
    if local is not None:
        return "openai", local[0]
    if "/api/v1/" in path:
        return "openai", "openrouter"
    if "/chat/" in path or "/completions" in path:
        return "openai", "openai"
    return "anthropic", "anthropic"


def read_body(rfile: BufferedIOBase, headers: Message) -> bytes:
    """A request body, plain or chunked."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts: list[bytes] = []
        while True:
            size = int(rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(rfile.read(size))
            rfile.readline()
    length = int(headers.get("content-length") or 0)
    return rfile.read(length) if length > 0 else b""

"""Connection bookkeeping and request routing shared by the server and the simulator."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from agent.testing.prompt_cache import PromptUsage
from agent.testing.script import Flavour, Outcome, RecordedRequest, Wire


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

    def context_window(self, model: object) -> int | None: ...
    def prompt_usage(self, request: RecordedRequest) -> PromptUsage: ...


def route(path: str) -> tuple[Wire, Flavour] | None:
    p = urlsplit(path).path.rstrip("/")
    if p.endswith("/v1/messages"):
        return "anthropic", "anthropic"
    if p.endswith("/chat/completions"):
        return "openai", ("openrouter" if "/api/v1/" in p else "openai")
    return None


def guess_route(path: str) -> tuple[Wire, Flavour]:
    if "/api/v1/" in path:
        return "openai", "openrouter"
    if "/chat/" in path or "/completions" in path:
        return "openai", "openai"
    return "anthropic", "anthropic"

"""The simulator's HTTP/1.1 server: keep-alive connections, chunked SSE bodies, faults."""

from __future__ import annotations

import json
import select
import socket
import struct
import sys
import time
import traceback
from collections.abc import Iterable
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import urlsplit

from agent.testing import anthropic_wire, openai_wire
from agent.testing import local_servers as local
from agent.testing.connection import Hooks, guess_route, read_body, route
from agent.testing.refusal import Refusal, refusal_error
from agent.testing.render import Abort, End, Op, Raw, SetPace, StreamRenderer, Wait, dumps, plain, walk
from agent.testing.rules import check_request
from agent.testing.script import (
    Flavour,
    HttpError,
    RawSSE,
    RecordedRequest,
    Reply,
    Reset,
    SseError,
    Wire,
)

_FLUSH_AT = 256 * 1024
_POLL = 0.05


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, hooks: Hooks, host: str = "127.0.0.1") -> None:
        self.hooks = hooks
        super().__init__((host, 0), SimHandler)


class _Gone(Exception):
    """The connection is over (client closed it, or the simulator is stopping)."""


class SimHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "stayline-simulator/1.0"
    sys_version = ""
    server: SimServer

    def setup(self) -> None:
        super().setup()
        with suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.hooks: Hooks = self.server.hooks
        self.conn = self.hooks.open_connection(self.connection, self.client_address)
        self.gone = False

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _closed(self, by: Literal["client", "server"]) -> None:
        self.hooks.mark_closed(self.conn, "server" if self.hooks.stopping.is_set() else by)

    def handle(self) -> None:
        try:
            while not self.gone:
                self.handle_one_request()
                if not getattr(self, "raw_requestline", b""):
                    self._closed("client")  # EOF while idle between requests
                    return
                if self.close_connection:
                    break
        except (_Gone, OSError):
            self._closed("client")
        finally:
            self._closed("server")  # no-op when already recorded

    def finish(self) -> None:
        self.hooks.forget_socket(self.conn)
        with suppress(OSError):
            super().finish()

    # --- routes --------------------------------------------------------------------------

    def do_POST(self) -> None:
        self.started = False
        try:
            self._post()
        except (_Gone, OSError):
            raise
        except Exception as exc:  # a simulator bug: say so loudly
            traceback.print_exc(file=sys.stderr)
            if self.started:
                self._hard_close("disconnect")
            else:
                wire, flavour = guess_route(self.path)
                self._send_error(wire, flavour, HttpError(500, f"simulator: internal error: {exc!r}"))

    def _not_found(self) -> None:
        self._read_body()
        self._no_route()

    def _no_route(self) -> None:
        wire, flavour = guess_route(self.path)
        message = f"simulator: no route for {self.command} {self.path}"
        self.hooks.record(self.conn, wire, flavour, self.path, self._headers(), {}, message)
        self._send_error(wire, flavour, HttpError(404, message))

    def do_GET(self) -> None:
        self._read_body()
        if not self._info(None):
            self._no_route()

    do_PUT = do_DELETE = do_PATCH = _not_found

    def _info(self, raw: bytes | None) -> bool:
        """A local server's information endpoint (/v1/models, /props, /api/show...)."""
        answer = local.info_answer(self.command, urlsplit(self.path).path, raw, self.hooks.server_settings)
        if answer is not None:
            self._send_json("openai", answer[0], answer[1], {})
        return answer is not None

    def _post(self) -> None:
        raw = self._read_body()
        found = route(self.path)
        if found is None:
            if not self._info(raw):
                self._no_route()
            return
        wire, flavour = found
        body, refusal = self._checked_body(flavour, raw)
        request = self.hooks.record(
            self.conn,
            wire,
            flavour,
            self.path,
            self._headers(),
            body if isinstance(body, dict) else {},
            refusal.message if refusal is not None else None,
        )
        if refusal is not None:
            if refusal.streamed_empty and body.get("stream") is True:
                self._stream(wire, {}, [End()])
            else:
                self._send_error(wire, flavour, refusal_error(wire, flavour, refusal))
            return
        outcome = self.hooks.next_outcome(request)
        if isinstance(outcome, Reply):
            adapted = local.adapt(flavour, body, outcome)
            if isinstance(adapted, local.FailedStream):
                self.hooks.put_back(outcome)  # its choice was made at temperature 0: a retry makes it again
                self._stream(wire, {}, [End()])
                return
            outcome = adapted
        if isinstance(outcome, HttpError):
            self._send_error(wire, flavour, outcome)
        elif isinstance(outcome, RawSSE):
            self._stream(wire, {}, [Raw(outcome.data, outcome.chunk_size), End()])
        elif body.get("stream") is True:
            self._stream_reply(request, outcome)
        else:
            self._plain_reply(request, outcome)

    # --- request helpers -----------------------------------------------------------------

    def _checked_body(self, flavour: Flavour, raw: bytes) -> tuple[Any, Refusal | None]:
        """The parsed body, and what the real API would refuse about it (None: nothing)."""
        try:
            body = json.loads(raw or b"null")
        except ValueError as exc:
            return None, Refusal(f"There was an error parsing the body: {exc}")
        if not isinstance(body, dict):
            return body, Refusal("The request body must be a JSON object")
        window = self.hooks.context_window(body.get("model"))
        if window is None and local.is_local(flavour):  # a local server's own context size
            window = self.hooks.server_settings(flavour).context_size
        return body, check_request(flavour, body, window)

    def _headers(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            out[key] = f"{out[key]}, {value}" if key in out else value
        return out

    def _read_body(self) -> bytes:
        return read_body(self.rfile, self.headers)

    # --- responses -----------------------------------------------------------------------

    def _start(self, status: int, headers: Iterable[tuple[str, str]]) -> None:
        self.started = True
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()

    def _id_header(self, wire: Wire) -> tuple[str, str]:
        if wire == "anthropic":
            return "request-id", anthropic_wire.new_request_id()
        return "x-request-id", openai_wire.new_request_id()

    def _send_json(self, wire: Wire, status: int, payload: Any, extra: dict[str, str], cut: bool = False) -> None:
        if isinstance(payload, bytes):
            data = payload
        elif isinstance(payload, str):
            data = payload.encode()
        else:
            data = dumps(payload).encode()
        headers = [
            ("content-type", "application/json"),
            ("content-length", str(len(data))),
            self._id_header(wire),
            *extra.items(),
        ]
        self._start(status, headers)
        if cut:
            self.wfile.write(data[: len(data) // 2])
            self._hard_close("disconnect")
            return
        self.wfile.write(data)

    def _send_error(self, wire: Wire, flavour: Flavour, error: HttpError) -> None:
        payload = error.body
        if payload is None:
            if wire == "anthropic":
                payload = anthropic_wire.error_body(
                    error.status, error.message, error.type, anthropic_wire.new_request_id()
                )
            elif local.is_local(flavour):
                payload = local.error_body(flavour, error.status, error.message, error.type)
            else:
                payload = openai_wire.error_body(error.status, error.message, error.type, flavour)
        self._send_json(wire, error.status, payload, dict(error.headers))

    def _model(self, request: RecordedRequest, reply: Reply) -> str:
        default = anthropic_wire.DEFAULT_MODEL if request.wire == "anthropic" else openai_wire.DEFAULT_MODEL
        return reply.model or str(request.body.get("model") or default)

    def _plain_reply(self, request: RecordedRequest, reply: Reply) -> None:
        if reply.delay_headers:
            self._wait(reply.delay_headers)
        view = plain(reply)
        for seconds in view.waits:
            self._wait(seconds)
        if isinstance(view.fault, SseError):
            self._send_error(
                request.wire, request.flavour, HttpError(view.fault.code, view.fault.message, view.fault.type)
            )
            return
        if isinstance(view.fault, Reset):
            self._hard_close("reset")
            return
        model = self._model(request, reply)
        prompt = self.hooks.prompt_usage(request)
        if request.wire == "anthropic":
            payload = anthropic_wire.message(reply, view.content, model, prompt)
        else:
            payload = openai_wire.completion(reply, view.content, model, request.flavour, prompt)
        self._send_json(request.wire, 200, payload, dict(reply.headers), cut=view.fault is not None)

    def _stream_reply(self, request: RecordedRequest, reply: Reply) -> None:
        if reply.delay_headers:
            self._wait(reply.delay_headers)
        model = self._model(request, reply)
        prompt = self.hooks.prompt_usage(request)  # the API reads and writes its cache as it starts
        renderer: StreamRenderer
        if request.wire == "anthropic":
            renderer = anthropic_wire.AnthropicStream(reply, model, prompt)
        else:
            options = request.body.get("stream_options")
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
            include_usage = include_usage and local.streams_usage(request.flavour)
            renderer = openai_wire.OpenAIStream(reply, model, request.flavour, include_usage, prompt)
        self._stream(request.wire, dict(reply.headers), walk(reply, renderer))

    def _stream(self, wire: Wire, extra: dict[str, str], ops: Iterable[Op]) -> None:
        headers = [
            ("content-type", "text/event-stream; charset=utf-8"),
            ("cache-control", "no-cache"),
            ("transfer-encoding", "chunked"),
            self._id_header(wire),
            *extra.items(),
        ]
        self._start(200, headers)
        pending: list[bytes] = []
        size = 0
        pace = 0.0
        for op in ops:
            if isinstance(op, bytes):
                if pace > 0:
                    self._wait(pace)
                    self._chunk(op)
                    continue
                pending.append(op)
                size += len(op)
                if size >= _FLUSH_AT:
                    self._chunk(b"".join(pending))
                    pending, size = [], 0
                continue
            if isinstance(op, End):  # the last events and the body's end in one write
                self.wfile.write(self._framed(b"".join(pending)) + b"0\r\n\r\n")
                return
            if pending:
                self._chunk(b"".join(pending))
                pending, size = [], 0
            if isinstance(op, Wait):
                self._wait(op.seconds, op.keepalive, op.every)
            elif isinstance(op, SetPace):
                pace = max(0.0, op.seconds)
            elif isinstance(op, Raw):
                step = op.chunk_size if op.chunk_size > 0 else max(1, len(op.data))
                for start in range(0, len(op.data), step):
                    if pace > 0:
                        self._wait(pace)
                    self._chunk(op.data[start : start + step])
            elif isinstance(op, Abort):
                self._hard_close(op.kind)
                return

    @staticmethod
    def _framed(data: bytes) -> bytes:
        return b"%X\r\n%b\r\n" % (len(data), data) if data else b""

    def _chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(self._framed(data))

    # --- waiting and faults --------------------------------------------------------------

    def _wait(self, seconds: float, keepalive: bytes | None = None, every: float = 0.5) -> None:
        """Wait, watching the socket; raises _Gone when the client closed it or on stop."""
        start = time.monotonic()
        deadline = start + seconds
        every = max(every, 0.001)
        next_beat = start + every if keepalive else float("inf")
        while True:
            now = time.monotonic()
            if now >= deadline:
                return
            if self.hooks.stopping.is_set():
                self._closed("server")
                raise _Gone
            if self._peer_closed(min(_POLL, deadline - now, max(0.0, next_beat - now))):
                self._closed("client")
                raise _Gone
            if keepalive and time.monotonic() >= next_beat and time.monotonic() < deadline:
                self._chunk(keepalive)
                next_beat += every

    def _peer_closed(self, timeout: float) -> bool:
        sock = self.connection
        try:
            poller = select.poll()
            poller.register(sock, select.POLLIN | select.POLLPRI)
            ready = poller.poll(max(0, int(timeout * 1000)))
        except (OSError, ValueError):
            return True
        if not ready:
            return False
        try:
            data = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        except OSError:
            return True
        if not data:
            return True
        time.sleep(timeout)  # unexpected early bytes: leave them for the next request
        return False

    def _hard_close(self, kind: Literal["reset", "disconnect"]) -> None:
        sock = self.connection
        self._closed("server")  # recorded before the client can see the close
        self.hooks.forget_socket(self.conn)
        with suppress(OSError):
            if kind == "reset":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                sock.shutdown(socket.SHUT_RDWR)
        with suppress(OSError):
            self.rfile.close()  # drops makefile()'s reference so close() really closes the fd
        with suppress(OSError):
            sock.close()
        self.gone = True
        self.close_connection = True

"""A streaming chat endpoint: ``POST /chat`` runs one turn and streams its events.

    python examples/streaming_endpoint.py --port 8000
    curl -N -d '{"prompt": "hello"}' http://127.0.0.1:8000/chat                 # NDJSON
    curl -N -H 'accept: text/event-stream' -d '{"prompt": "hello"}' http://127.0.0.1:8000/chat   # SSE

No web framework: ``make_app`` builds an ASGI application by hand and ``serve`` is a
minimal HTTP/1.1 server on asyncio streams, just enough to run it (any ASGI server, e.g.
uvicorn, runs the same app). Each event is one JSON object, ``{"kind": "text_delta",
"text": "..."}`` and so on; the last one has kind ``turn_finished``.

With FastAPI, ``event_stream`` is the whole endpoint:

    @api.post("/chat")
    async def chat(body: ChatRequest) -> StreamingResponse:
        agent = new_agent()
        return StreamingResponse(
            event_stream(agent, body.prompt, sse=True),
            media_type="text/event-stream",
            background=BackgroundTask(agent.close),  # after the last byte is sent
        )

Starlette cancels the body iterator when the client disconnects, as ``app`` below does;
cancelling the consumer of ``AIAgent.astream`` interrupts the turn, so a closed browser
tab stops the model call and frees its connection.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from http import HTTPStatus
from pathlib import Path
from typing import Any

from agent import AgentEvent, AIAgent

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Message, Receive, Send], Awaitable[None]]


def encode(event: AgentEvent, *, sse: bool) -> bytes:
    """One event as an SSE frame (``event:`` + ``data:``) or as one NDJSON line."""
    data = json.dumps(dataclasses.asdict(event), ensure_ascii=False)
    return f"event: {event.kind}\ndata: {data}\n\n".encode() if sse else f"{data}\n".encode()


async def event_stream(agent: AIAgent, prompt: str, *, sse: bool = False) -> AsyncIterator[bytes]:
    """The response body: the turn's events as they happen. The turn runs in a thread,
    so the event loop keeps serving other requests meanwhile."""
    async for event in agent.astream(prompt):
        yield encode(event, sse=sse)


def make_app(new_agent: Callable[[], AIAgent]) -> ASGIApp:
    """The ASGI app. Every request gets a fresh agent; to keep a conversation across
    requests, keep one ``AIAgent`` per conversation instead (one turn at a time each)."""

    async def app(scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], scope["path"]) != ("POST", "/chat"):
            return await send_json(send, 404, {"error": "only POST /chat is served"})
        try:
            prompt = str(json.loads(await read_body(receive))["prompt"])
        except (ValueError, KeyError, TypeError):
            return await send_json(send, 400, {"error": 'send a JSON object {"prompt": "..."}'})
        sse = b"text/event-stream" in dict(scope["headers"]).get(b"accept", b"")
        media_type = b"text/event-stream" if sse else b"application/x-ndjson"
        headers = [(b"content-type", media_type), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})

        async def forward(agent: AIAgent) -> None:
            async for chunk in event_stream(agent, prompt, sse=sse):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        with new_agent() as agent:  # closed (its connections released) when the response ends
            body = asyncio.ensure_future(forward(agent))
            gone = asyncio.ensure_future(wait_for_disconnect(receive))
            await asyncio.wait({body, gone}, return_when=asyncio.FIRST_COMPLETED)
            for task in (body, gone):  # a client that left cancels the body: the turn is interrupted
                task.cancel()
                with suppress(asyncio.CancelledError, ConnectionError):
                    await task
        return None

    return app


async def read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += bytes(message.get("body", b""))
        if not message.get("more_body"):
            return body


async def wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def send_json(send: Send, status: int, payload: object) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps(payload).encode()})


async def serve(app: ASGIApp, host: str = "127.0.0.1", port: int = 8000) -> asyncio.Server:
    """Start serving ``app``: one request per connection, the body ends with the connection."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            method, target, _version = head[0].split(" ", 2)
            fields = [line.split(":", 1) for line in head[1:] if ":" in line]
            headers = [(k.strip().lower().encode("latin-1"), v.strip().encode("latin-1")) for k, v in fields]
            body = await reader.readexactly(int(dict(headers).get(b"content-length", b"0")))
        except (ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        path, _, query = target.partition("?")
        scope: Message = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method}
        scope |= {"path": path, "query_string": query.encode("latin-1"), "headers": headers}
        pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> Message:
            if pending:
                return pending.pop()
            await reader.read()  # returns at end of stream: the client closed the connection
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = HTTPStatus(message["status"])
                lines = [f"HTTP/1.1 {status.value} {status.phrase}".encode()]
                lines += [name + b": " + value for name, value in message.get("headers", [])]
                writer.write(b"\r\n".join([*lines, b"connection: close", b"", b""]))
            else:
                writer.write(message.get("body", b""))
            await writer.drain()

        try:
            await app(scope, receive, send)
        except ConnectionError:
            pass  # the client went away while the response was being written
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)


def main(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    model: str | None = None,
    workdir: str | Path = ".",
) -> None:
    """Serve until interrupted (Ctrl-C). ``port=0`` picks a free port; the URL is printed."""

    def new_agent() -> AIAgent:
        return AIAgent(base_url=base_url, api_key=api_key, model=model, workdir=workdir)

    new_agent().close()  # a configuration error (no key, no model...) shows now, not per request

    async def run() -> None:
        server = await serve(make_app(new_agent), host, port)
        bound_host, bound_port = server.sockets[0].getsockname()[:2]
        print(f"listening on http://{bound_host}:{bound_port}/chat", flush=True)
        async with server:
            await server.serve_forever()

    with suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workdir", default=".")
    args = parser.parse_args()
    main(
        args.host,
        args.port,
        base_url=os.environ.get("STAYLINE_EXAMPLE_BASE_URL") or None,
        api_key=os.environ.get("STAYLINE_EXAMPLE_API_KEY") or None,
        workdir=args.workdir,
    )

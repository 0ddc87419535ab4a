"""Scripted model behaviours for the simulator: functions of the request, so that a
test can play a model that reacts to what the agent sends (headers, guidance, history)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agent.testing.script import RecordedRequest, Reply, Silence, SseError, Text, ToolCall

FINE_GRAINED = "fine-grained-tool-streaming"


def wants_fine_grained_streaming(request: RecordedRequest) -> bool:
    """Did the agent ask for tool arguments to stream as they are generated?"""
    headers = " ".join(request.headers.get(h, "") for h in ("anthropic-beta", "x-anthropic-beta"))
    if FINE_GRAINED in headers:
        return True
    return any(tool.get("eager_input_streaming") for tool in request.body.get("tools") or [])


def _user_texts(request: RecordedRequest) -> list[str]:
    texts: list[str] = []
    for message in request.body.get("messages") or []:
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    return texts


def _write_calls(request: RecordedRequest) -> list[tuple[dict[str, Any], bool]]:
    """Every write_file call in the history with whether its result was a success."""
    calls: dict[str, dict[str, Any]] = {}
    results: dict[str, bool] = {}
    for message in request.body.get("messages") or []:
        content = message.get("content")
        for call in message.get("tool_calls") or []:  # chat completions
            if call["function"]["name"] == "write_file":
                calls[call["id"]] = json.loads(call["function"]["arguments"] or "{}")
        if message.get("role") == "tool":
            results[message["tool_call_id"]] = not str(content).startswith("Error:")
        for block in content if isinstance(content, list) else []:  # anthropic
            if block.get("type") == "tool_use" and block.get("name") == "write_file":
                calls[block["id"]] = block.get("input") or {}
            elif block.get("type") == "tool_result":
                results[block["tool_use_id"]] = not block.get("is_error", False)
    return [(args, results.get(call_id, False)) for call_id, args in calls.items()]


@dataclass
class LargeWriteModel:
    """A model asked to write one large file, behind a proxy that kills idle streams.

    Without fine-grained tool streaming the model goes silent while it generates the
    call's arguments, and the proxy ends the stream after ``proxy_idle`` seconds with
    OpenRouter's "Network connection lost." event. With fine-grained streaming the
    arguments stream as they are generated and the call completes. Once a user-role
    message mentions writing in pieces with mode "append" (the agent's guidance), a
    model that ``obeys_guidance`` writes the file in pieces of ``piece_chars``.
    """

    path: str
    content: str
    proxy_idle: float = 1.0
    obeys_guidance: bool = True
    piece_chars: int = 8_000

    def written(self, request: RecordedRequest) -> int:
        total = 0
        for args, ok in _write_calls(request):
            if ok and args.get("path") == self.path:
                piece = str(args.get("content", ""))
                total = total + len(piece) if args.get("mode") == "append" else len(piece)
        return total

    def guided(self, request: RecordedRequest) -> bool:
        return any("append" in text and "piece" in text for text in _user_texts(request))

    def __call__(self, request: RecordedRequest) -> Reply:
        done = self.written(request)
        if done >= len(self.content):
            return Reply(Text(f"Wrote {self.path} ({len(self.content):,} characters)."))
        if self.obeys_guidance and self.guided(request):
            piece = self.content[done : done + self.piece_chars]
            arguments = {"path": self.path, "content": piece, "mode": "append" if done else "overwrite"}
            return Reply(ToolCall("write_file", arguments, chunk=500))
        whole = json.dumps({"path": self.path, "content": self.content})
        if wants_fine_grained_streaming(request):
            return Reply(Text("Writing the file."), ToolCall("write_file", whole, chunk=500))
        # The model is generating the arguments; nothing reaches the wire until the proxy gives up.
        return Reply(
            Text("Writing the file."),
            ToolCall("write_file", whole[:200]),
            Silence(self.proxy_idle),
            SseError("Network connection lost.", code=502),
        )

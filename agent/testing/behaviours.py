"""Scripted model behaviours for the simulator: functions of the request, so that a
test can play a model that reacts to what the agent sends (headers, guidance, history)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
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


# -- a long tool task, for the context window ------------------------------------------------

_TASK = re.compile(r"parts (\d+) to (\d+)")
_KEY = re.compile(r"KEY-\d+-[0-9a-f]+")
_PART = re.compile(r"part_(\d+)\.txt")
_DONE_THROUGH = re.compile(r"out/part_\d+\.txt to out/part_(\d+)\.txt are written")


def part_path(folder: str, number: int) -> str:
    """``data/part_007.txt``: the files of ``LongTaskModel``'s task."""
    return f"{folder}/part_{number:03d}.txt"


def part_answer(key: str) -> str:
    """What ``LongTaskModel`` writes for an input whose key line is ``key``."""
    return key[::-1] + "\n"


@dataclass(frozen=True, slots=True)
class _Item:
    kind: str  # "user" (text of a user message), "call", "result"
    text: str = ""
    name: str = ""
    arguments: dict[str, Any] | None = None
    call_id: str = ""


def conversation_items(request: RecordedRequest) -> list[_Item]:
    """The request's conversation in order, the same on both wires: user texts, tool
    calls and tool results."""
    items: list[_Item] = []
    for message in request.body.get("messages") or []:
        role, content = message.get("role"), message.get("content")
        for call in message.get("tool_calls") or []:  # chat completions
            arguments = json.loads(call["function"]["arguments"] or "{}")
            items.append(_Item("call", name=call["function"]["name"], arguments=arguments, call_id=call["id"]))
        if role == "tool":
            items.append(_Item("result", text=str(content), call_id=str(message.get("tool_call_id"))))
        elif role == "user" and isinstance(content, str):
            items.append(_Item("user", text=content))
        for block in content if isinstance(content, list) else []:  # anthropic
            kind = block.get("type")
            if kind == "tool_use":
                items.append(_Item("call", name=block["name"], arguments=block.get("input") or {}, call_id=block["id"]))
            elif kind == "tool_result":
                items.append(_Item("result", text=_result_text(block.get("content")), call_id=block["tool_use_id"]))
            elif kind == "text" and role == "user":
                items.append(_Item("user", text=str(block.get("text", ""))))
    return items


def _result_text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return str(content)


@dataclass
class LongTaskModel:
    """A model working through a long tool task, one part a step: the user asks it to
    process "parts A to B"; for each part it reads ``data/part_NNN.txt`` (large) and
    writes ``out/part_NNN.txt`` with the input's key line reversed (``part_answer``),
    writing one part and reading the next in the same reply. It finds its place from the
    latest task and the last tool call it can see, so it carries on after a compaction
    or a resume. A request that ends with ``summary_marker`` gets a structured handoff
    summary (and is kept in ``summary_requests``). Its usage is the simulator's count of
    the prompt (``prompt_tokens``) with its cache reads and writes, as a real API reports.
    """

    summary_marker: str
    summary_requests: list[RecordedRequest] = field(default_factory=list)

    def __call__(self, request: RecordedRequest) -> Reply:
        items = conversation_items(request)
        users = [i for i in items if i.kind == "user"]
        if users and self.summary_marker in users[-1].text:
            self.summary_requests.append(request)
            return self._reply(request, Text(self._summary(items)))
        return self._reply(request, *self._next_step(items))

    @staticmethod
    def _reply(request: RecordedRequest, *content: Text | ToolCall) -> Reply:
        return Reply(*content)  # usage: the simulator's own count, cache reads and writes included

    @staticmethod
    def _task(items: list[_Item]) -> tuple[int, int, int]:
        """(first part, last part, where the task was given) from the latest user text or
        summary that names one."""
        for index in range(len(items) - 1, -1, -1):
            found = _TASK.search(items[index].text) if items[index].kind == "user" else None
            if found:
                return int(found.group(1)), int(found.group(2)), index
        return 1, 1, 0

    def _next_step(self, items: list[_Item]) -> tuple[Text | ToolCall, ...]:
        first, last, start = self._task(items)
        calls = [(i, n) for i in items[start:] if i.kind == "call" and (n := _part_of(i)) is not None]
        results = {i.call_id: i.text for i in items if i.kind == "result"}
        if not calls:
            return Text(f"Starting with part {first}."), self._read(first)
        latest, number = calls[-1]
        if latest.name == "write_file":
            if number >= last:
                return (Text(f"All parts from {first} to {last} are written."),)
            return Text(f"Reading part {number + 1}."), self._read(number + 1)
        key = _KEY.search(results.get(latest.call_id, ""))
        if key is None:  # the output is not there any more: read it again
            return Text(f"Reading part {number} again."), self._read(number)
        write = ToolCall("write_file", {"path": part_path("out", number), "content": part_answer(key.group(0))})
        if number >= last:
            return Text(f"Writing the last part, {number}."), write
        return Text(f"Part {number} done."), write, self._read(number + 1)

    @staticmethod
    def _read(number: int) -> ToolCall:
        return ToolCall("read_file", {"path": part_path("data", number)})

    def _summary(self, items: list[_Item]) -> str:
        first, last, _ = self._task(items)
        written = [n for i in items if i.kind == "call" and i.name == "write_file" and (n := _part_of(i)) is not None]
        earlier = [int(m.group(1)) for i in items if i.kind == "user" and (m := _DONE_THROUGH.search(i.text))]
        done = max(written + earlier, default=first - 1)
        return (
            f"## Goal and constraints\nProcess parts {first} to {last}: for each, read data/part_NNN.txt and write "
            "out/part_NNN.txt with the key line reversed.\n"
            "## Decisions\nOne part per step, in order.\n"
            f"## Files\nout/part_{first:03d}.txt to out/part_{done:03d}.txt are written.\n"
            "## Tried and failed\nNothing failed.\n"
            f"## Next steps\nContinue with part {done + 1}."
        )


def _part_of(item: _Item) -> int | None:
    """The part a read_file or write_file call of the task is about."""
    if item.name not in ("read_file", "write_file"):
        return None
    found = _PART.search(str((item.arguments or {}).get("path", "")))
    return int(found.group(1)) if found else None

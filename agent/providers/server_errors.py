"""Servers' error messages on one line, in their own words.

Some servers answer a request their validator refused with the validator's whole dump.
llama-cpp-python 0.3.36 answers an assistant message whose content is null with an
HTTP 500 whose message is FastAPI's "7 validation errors:" followed by one Python dict
per member of the message union it tried (``{'type': 'string_type', 'loc': ('body',
'messages', 1, 'ChatCompletionRequestAssistantMessage', 'content'), 'msg': 'Input
should be a valid string', 'input': None}``) and a traceback line; pydantic itself
writes "N validation errors for MODEL" with each entry on three lines. The user needs
the one entry that matters: the field that was refused and why.
"""

from __future__ import annotations

import ast
import re

_HEADER = re.compile(r"(\d+) validation errors?(?: for (\S+))?")
# pydantic's own layout: "messages.1.x.content\n  Input should be ... [type=string_type, input_value=None, ..."
_DETAIL = re.compile(r"^\s+(?P<text>[^\[\n]+?)\s*\[type=(?P<type>[\w.]+)(?:,\s*input_value=(?P<value>[^,\]]*))?")
# Entries that only say "this message is not of that other type" (the union's other members).
_UNINFORMATIVE = frozenset({"literal_error", "missing", "union_tag_invalid", "extra_forbidden"})
_SHOWN_VALUE = 40

Entry = tuple[str, str, str, str | None]  # field, message, error type, value sent


def one_line_server_error(message: str) -> str:
    """``message`` on one line; a validation dump becomes its count and its most telling
    entry (the field refused, what was expected, the value sent)."""
    header = _HEADER.search(message)
    if header is not None:
        rest = message[header.end() :]
        entries = _dict_entries(rest) or _pydantic_entries(rest)
        if entries:
            return _summary(header, entries)
    return " ".join(message.split())


def _dict_entries(text: str) -> list[Entry]:
    """FastAPI's layout: one Python dict literal per line."""
    entries: list[Entry] = []
    for line in text.splitlines():
        line = line.strip()
        if not (line.startswith("{") and line.endswith("}")):
            continue
        try:
            item = ast.literal_eval(line)  # literals only: safe on a stranger's text
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue
        if isinstance(item, dict) and "msg" in item:
            loc = [str(p) for p in item.get("loc") or () if p != "body"]
            value = item.get("input")
            shown = None if isinstance(value, dict | list) else repr(value)[:_SHOWN_VALUE]
            entries.append((".".join(loc), str(item["msg"]), str(item.get("type", "")), shown))
    return entries


def _pydantic_entries(text: str) -> list[Entry]:
    lines = text.splitlines()
    entries: list[Entry] = []
    for index, line in enumerate(lines[:-1]):
        if not line.strip() or line.startswith((" ", "\t")):
            continue
        detail = _DETAIL.match(lines[index + 1])
        if detail is not None:
            entries.append((line.strip(), detail["text"], detail["type"], detail["value"]))
    return entries


def _summary(header: re.Match[str], entries: list[Entry]) -> str:
    telling = [e for e in entries if e[2] not in _UNINFORMATIVE] or entries
    field, text, _kind, value = telling[0]
    sent = f" (sent: {value.strip()})" if value is not None else ""
    count = header.group(1)
    noun = "validation error" if count == "1" else "validation errors"
    model = f" for {header.group(2)}" if header.group(2) else ""
    return f"{count} {noun}{model}; the field refused: {field}: {text}{sent}"


# vLLM: "... maximum context length is 32768 tokens and your request has 30888 input
# tokens (2048 > 32768 - 30888)"; older vLLM and llama-cpp-python: "... maximum context
# length is 2048 tokens. However, you requested 2200 tokens (2100 in the messages, 100
# in the completion)".
_ROOM = (
    re.compile(r"maximum context length is (\d+) tokens and your request has (\d+) input tokens"),
    re.compile(r"maximum context length is (\d+) tokens\. However, you requested \d+ tokens \((\d+) in the messages"),
)
_MIN_ROOM = 16


def fitting_output(message: str) -> int | None:
    """The max_tokens that would fit, from a server's "prompt + max_tokens > context"
    error; None when it names no counts or the prompt alone does not fit."""
    for pattern in _ROOM:
        match = pattern.search(message)
        if match is not None:
            room = int(match.group(1)) - int(match.group(2))
            return room if room >= _MIN_ROOM else None
    return None

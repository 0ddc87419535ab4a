"""Servers' error messages on one line, in their own words.

Some servers answer a request their validator refused with the validator's whole dump:
llama-cpp-python, for one, turns pydantic's "7 validation errors for
CreateChatCompletionRequest" (one entry per message type the union tried, each on
three lines with a documentation link) into the message of an HTTP 500. The user needs
the one entry that matters: the field that was refused and why.
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"(\d+) validation errors? for (\S+)")
# "  Input should be a valid string [type=string_type, input_value=None, input_type=NoneType]"
_DETAIL = re.compile(r"^\s+(?P<text>[^\[\n]+?)\s*\[type=(?P<type>[\w.]+)(?:,\s*input_value=(?P<value>[^,\]]*))?")
# Entries that only say "this message is not of that other type" (the union's other members).
_UNINFORMATIVE = frozenset({"literal_error", "missing", "union_tag_invalid", "extra_forbidden"})


def one_line_server_error(message: str) -> str:
    """``message`` on one line; a validation dump becomes its count and its most telling
    entry (the field refused, what was expected, the value sent)."""
    header = _HEADER.search(message)
    if header is not None:
        summary = _validation_summary(message, header)
        if summary:
            return summary
    return " ".join(message.split())


def _validation_summary(message: str, header: re.Match[str]) -> str | None:
    lines = message[header.end() :].splitlines()
    entries: list[tuple[str, str, str, str | None]] = []
    for index, line in enumerate(lines[:-1]):
        if not line.strip() or line.startswith((" ", "\t")):
            continue
        detail = _DETAIL.match(lines[index + 1])
        if detail is not None:
            entries.append((line.strip(), detail["text"], detail["type"], detail["value"]))
    if not entries:
        return None
    telling = [e for e in entries if e[2] not in _UNINFORMATIVE] or entries
    field, text, _kind, value = telling[0]
    sent = f" (sent: {value.strip()})" if value is not None else ""
    count, model = header.group(1), header.group(2)
    noun = "validation error" if count == "1" else "validation errors"
    return f"{count} {noun} for {model}; the field refused: {field}: {text}{sent}"


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

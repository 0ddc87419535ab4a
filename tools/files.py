"""File tools: read_file, write_file, patch and list_dir, all confined to the workdir.

Paths are checked with ``tools.paths`` and opened with ``tools.confined``, which
refuses a symlink swapped in after the check, refuses FIFOs, devices and oversized files
before reading, and replaces files atomically. Writes under ``.git/`` (hooks run on the
user's next commit) ask for approval like a dangerous command.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from tools.base import Tool, ToolContext, ToolError
from tools.confined import MAX_READ_BYTES, confined_dir, read_at, read_confined, replace_at
from tools.patch import apply_edits
from tools.paths import display_path, resolve_in_workdir
from tools.text import body_budget, count_lines, plural

__all__ = ["list_dir_tool", "patch_tool", "read_file_tool", "write_file_tool"]

DEFAULT_READ_LIMIT = 2000
MAX_LIST_ENTRIES = 500
_NOTE_RESERVE = 300  # room kept free under max_output_chars for the header and notes
GIT_WRITE_REASON = "writes inside .git, where hooks and settings can run code on your next git command"


# --- read_file -------------------------------------------------------------------------


def _read_file(args: dict[str, Any], ctx: ToolContext) -> str:
    path = resolve_in_workdir(ctx.workdir, args["path"])
    shown = display_path(ctx.workdir, path)
    data = _read_bytes(ctx, path, shown)
    if b"\0" in data:
        raise ToolError(f"{shown} looks like a binary file (it contains NUL bytes); read_file reads text")
    lines = _split_lines(data.decode("utf-8", errors="replace"))
    total = len(lines)
    if total == 0:
        return f"[{shown} is empty]"
    start = int(args.get("offset", 1))
    if start > total:
        raise ToolError(f"offset {start} is past the end of {shown}, which has {plural(total, 'line')}")
    wanted = lines[start - 1 : start - 1 + int(args.get("limit", DEFAULT_READ_LIMIT))]
    body, shown_count, line_cut = _fit(wanted, body_budget(ctx.max_output_chars, _NOTE_RESERVE))
    last = start + shown_count - 1
    notes = _read_notes(ctx, total, last, capped=shown_count < len(wanted) or line_cut, line_cut=line_cut)
    text = f"[lines {start}-{last} of {total} in {shown}]\n{body}"
    if notes:
        text += ("" if text.endswith("\n") else "\n") + notes
    return text


def _split_lines(text: str) -> list[str]:
    # Only "\n" ends a line (str.splitlines would also split at \f, \x1c, ...), so that
    # line numbers agree with search_files and with what editors show.
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _fit(lines: list[str], budget: int) -> tuple[str, int, bool]:
    """Take whole lines while they fit; cut a first line that alone is too long."""
    taken: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) > budget:
            if not taken:  # never return nothing: show the start of the huge line
                return line[: max(budget, 1)], 1, True
            break
        taken.append(line)
        used += len(line)
    return "".join(taken), len(taken), False


def _read_notes(ctx: ToolContext, total: int, last: int, *, capped: bool, line_cut: bool) -> str:
    notes: list[str] = []
    if line_cut:
        notes.append(f"[line {last} is cut: it is longer than the {ctx.max_output_chars:,}-character limit]")
    if last < total:
        if capped:
            notes.append(
                f"[output capped at about {ctx.max_output_chars:,} characters; "
                f"{plural(total - last, 'more line')}; continue with offset={last + 1}]"
            )
        else:
            notes.append(f"[{plural(total - last, 'more line')}; continue with offset={last + 1}]")
    return "\n".join(notes)


def _summarize_read(args: dict[str, Any], content: str) -> str:
    match = re.match(r"\[lines (\d+)-(\d+) of", content)
    count = int(match.group(2)) - int(match.group(1)) + 1 if match else 0
    return f"read {plural(count, 'line')}"


# --- write_file ------------------------------------------------------------------------


def _write_file(args: dict[str, Any], ctx: ToolContext) -> str:
    path = resolve_in_workdir(ctx.workdir, args["path"])
    shown = display_path(ctx.workdir, path)
    if path == ctx.workdir:
        raise ToolError(f"{shown} is a directory; give a file path")
    _approve_git_write(ctx, "write_file", path, shown)
    content: str = args["content"]
    append = args.get("mode", "overwrite") == "append"
    with confined_dir(ctx.workdir, path.parent, shown, verb="write", create=True) as folder:
        size = replace_at(folder, path.name, shown, content.encode("utf-8"), append=append)
    verb = "appended" if append else "wrote"
    return f"{verb} {len(content):,} characters to {shown} (now {size:,} bytes)"


def _summarize_write(args: dict[str, Any], content: str) -> str:
    return content.split(" to ", 1)[0]


# --- patch -----------------------------------------------------------------------------


def _patch(args: dict[str, Any], ctx: ToolContext) -> str:
    path = resolve_in_workdir(ctx.workdir, args["path"])
    shown = display_path(ctx.workdir, path)
    if path == ctx.workdir:
        raise ToolError(f"{shown} is a directory; give a file path")
    _approve_git_write(ctx, "patch", path, shown)
    missing = "; use write_file to create it"
    if not path.parent.is_dir():
        raise ToolError(f"file not found: {shown}{missing}")
    # One folder descriptor for the read and the write: both see the same folder.
    with confined_dir(ctx.workdir, path.parent, shown, verb="edit") as folder:
        data = read_at(folder, path.name, shown, missing_hint=missing)
        if b"\0" in data:
            raise ToolError(f"{shown} looks like a binary file; patch only edits text")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:  # replacing bytes would silently corrupt the file
            raise ToolError(f"{shown} is not valid UTF-8 text; patch cannot edit it safely") from exc
        edits = [(edit["old"], edit["new"]) for edit in args["edits"]]
        new_text = _apply_keeping_crlf(text, edits)
        replace_at(folder, path.name, shown, new_text.encode("utf-8"))
    return f"applied {plural(len(edits), 'edit')} to {shown} ({count_lines(text):,} -> {count_lines(new_text):,} lines)"


def _apply_keeping_crlf(text: str, edits: list[tuple[str, str]]) -> str:
    # Models write "\n"; a file that consistently uses CRLF would otherwise never match
    # (or end up with mixed line endings). Edit in LF and convert back.
    crlf = text.count("\r\n")
    if crlf and crlf == text.count("\n") and not any("\r" in old for old, _ in edits):
        return apply_edits(text.replace("\r\n", "\n"), edits).replace("\n", "\r\n")
    return apply_edits(text, edits)


def _summarize_patch(args: dict[str, Any], content: str) -> str:
    return content.split(" to ", 1)[0]


# --- list_dir --------------------------------------------------------------------------


def _list_dir(args: dict[str, Any], ctx: ToolContext) -> str:
    path = resolve_in_workdir(ctx.workdir, args.get("path") or ".")
    shown = display_path(ctx.workdir, path)
    if not path.exists():
        raise ToolError(f"directory not found: {shown}")
    if not path.is_dir():
        raise ToolError(f"{shown} is a file, not a directory; use read_file to read it")
    with confined_dir(ctx.workdir, path, shown, verb="list") as folder:
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as exc:
            raise ToolError(f"cannot list {shown}: {exc.strerror or exc}") from exc
        described = [_describe(entry, folder) for entry in entries[:MAX_LIST_ENTRIES]]
    lines = [f"[{plural(len(entries), 'entry', 'entries')} in {shown}]", *described]
    if not entries:
        lines.append("(empty directory)")
    if len(entries) > MAX_LIST_ENTRIES:
        lines.append(f"[... {len(entries) - MAX_LIST_ENTRIES:,} more entries not shown]")
    return "\n".join(lines)


def _describe(entry: os.DirEntry[str], folder: int) -> str:
    try:
        if entry.is_symlink():
            slash = "/" if entry.is_dir() else ""
            return f"{entry.name}{slash} -> {os.readlink(entry.name, dir_fd=folder)}"
        if entry.is_dir():
            return f"{entry.name}/"
        return f"{entry.name} ({entry.stat().st_size:,} bytes)"
    except OSError:  # vanished or unreadable while listing: still show the name
        return entry.name


def _summarize_list(args: dict[str, Any], content: str) -> str:
    return content.split("\n", 1)[0].strip("[]").split(" in ", 1)[0]


# --- shared ----------------------------------------------------------------------------


def _read_bytes(ctx: ToolContext, path: Path, shown: str) -> bytes:
    if path == ctx.workdir:
        raise ToolError(f"{shown} is a directory; use list_dir to see what it contains")
    if not path.parent.is_dir():
        raise ToolError(f"file not found: {shown}")
    return read_confined(ctx.workdir, path, shown, limit=MAX_READ_BYTES)


def _approve_git_write(ctx: ToolContext, tool: str, path: Path, shown: str) -> None:
    """A write under .git/ (hooks, config) can run code later: ask like a dangerous command."""
    if ctx.approve is None or ".git" not in path.relative_to(ctx.workdir).parts:
        return
    if not ctx.approve(tool, f"{GIT_WRITE_REASON}: {shown}"):
        raise ToolError(
            f"refused: {shown} is inside .git, and the user did not approve this write; do not retry it as is. "
            "Ask the user how to proceed."
        )


def _path_property(description: str) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "description": description}


def read_file_tool() -> Tool:
    return Tool(
        name="read_file",
        description=(
            "Read a text file inside the working directory. Returns a header line such as "
            "'[lines 1-40 of 120 in notes.txt]' followed by the lines verbatim. Use offset and "
            "limit to read a long file in parts. Binary files, special files (FIFOs, devices) and "
            f"files over {MAX_READ_BYTES:,} bytes are refused."
        ),
        schema={
            "type": "object",
            "properties": {
                "path": _path_property("File path, relative to the working directory."),
                "offset": {"type": "integer", "minimum": 1, "description": "First line to read (1-based)."},
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "description": f"Maximum number of lines to read (default {DEFAULT_READ_LIMIT}).",
                },
            },
            "required": ["path"],
            "additionalProperties": False,
        },
        handler=_read_file,
        summarize=_summarize_read,
    )


def write_file_tool() -> Tool:
    return Tool(
        name="write_file",
        description=(
            "Write text to a file inside the working directory, creating parent folders. "
            "mode 'overwrite' (default) replaces the file; 'append' adds to its end. "
            "For content over about 8,000 characters, write the first piece with mode 'overwrite' "
            "and the rest in further calls with mode 'append', so that no single call is huge. "
            "To change part of an existing file, prefer the patch tool."
        ),
        schema={
            "type": "object",
            "properties": {
                "path": _path_property("File path, relative to the working directory."),
                "content": {"type": "string", "description": "The text to write."},
                "mode": {
                    "type": "string",
                    "enum": ["overwrite", "append"],
                    "description": "'overwrite' (default) or 'append'.",
                },
            },
            "required": ["path", "content"],
            "additionalProperties": False,
        },
        handler=_write_file,
        side_effects=True,
        summarize=_summarize_write,
    )


def patch_tool() -> Tool:
    edit = {
        "type": "object",
        "properties": {
            "old": {"type": "string", "minLength": 1, "description": "Exact existing text to replace."},
            "new": {"type": "string", "description": "Replacement text."},
        },
        "required": ["old", "new"],
        "additionalProperties": False,
    }
    return Tool(
        name="patch",
        description=(
            "Edit a text file by exact search and replace. Each edit's 'old' must occur exactly "
            "once in the file (include enough surrounding lines to make it unique) and is replaced "
            "by 'new'. Edits apply in order; if any edit fails, nothing is written."
        ),
        schema={
            "type": "object",
            "properties": {
                "path": _path_property("File path, relative to the working directory."),
                "edits": {"type": "array", "items": edit, "description": "The edits, applied in order."},
            },
            "required": ["path", "edits"],
            "additionalProperties": False,
        },
        handler=_patch,
        side_effects=True,
        summarize=_summarize_patch,
    )


def list_dir_tool() -> Tool:
    return Tool(
        name="list_dir",
        description=(
            "List a directory inside the working directory: entries sorted by name, folders "
            f"with a trailing '/', files with their size. At most {MAX_LIST_ENTRIES} entries."
        ),
        schema={
            "type": "object",
            "properties": {
                "path": {
                    "type": "string",
                    "description": "Directory, relative to the working directory (default: '.').",
                },
            },
            "additionalProperties": False,
        },
        handler=_list_dir,
        summarize=_summarize_list,
    )

"""search_files: a Python-regex grep over the text files of the working directory.

Files are read through ``tools.confined`` like read_file's: a FIFO or device is skipped
without being opened for reading, and a symlink swapped in is not followed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from tools.base import Tool, ToolContext, ToolError
from tools.confined import read_confined
from tools.paths import display_path, is_inside, resolve_in_workdir
from tools.text import body_budget, looks_binary, plural

__all__ = ["search_files_tool"]

DEFAULT_MAX_RESULTS = 100
MAX_RESULTS_LIMIT = 1000
MAX_LINE_CHARS = 300
# Folders that are never what the model is looking for and can be huge.
SKIP_DIRS = frozenset(
    {".git", "node_modules", "__pycache__", ".venv", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox"}
)
# Larger files are almost always data or build output; reading them would stall the turn.
MAX_FILE_BYTES = 5_000_000
_NOTE_RESERVE = 300  # room under max_output_chars for the header line


@dataclass
class _Hits:
    limit: int
    budget: int
    lines: list[str] = field(default_factory=list)
    files: set[str] = field(default_factory=set)
    chars: int = 0
    capped: bool = False

    def add(self, relpath: str, number: int, text: str) -> bool:
        """Record one match; False once the count or size limit is reached."""
        if len(self.lines) >= self.limit:
            self.capped = True
            return False
        if len(text) > MAX_LINE_CHARS:
            text = text[:MAX_LINE_CHARS] + "…"
        line = f"{relpath}:{number}: {text}"
        if self.chars + len(line) + 1 > self.budget:
            self.capped = True
            return False
        self.lines.append(line)
        self.files.add(relpath)
        self.chars += len(line) + 1
        return True


def _search_files(args: dict[str, Any], ctx: ToolContext) -> str:
    pattern: str = args["pattern"]
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ToolError(f"invalid regular expression {pattern!r}: {exc}") from exc
    root = resolve_in_workdir(ctx.workdir, args.get("path") or ".")
    if not root.exists():
        raise ToolError(f"path not found: {display_path(ctx.workdir, root)}")
    glob: str | None = args.get("glob") or None
    limit = int(args.get("max_results", DEFAULT_MAX_RESULTS))
    hits = _Hits(limit=limit, budget=body_budget(ctx.max_output_chars, _NOTE_RESERVE))
    for path in _iter_files(root, ctx.workdir):
        relpath = display_path(ctx.workdir, path)
        if glob and not _glob_matches(relpath, glob):
            continue
        lines = _matching_lines(ctx.workdir, path, relpath, regex)
        if not all(hits.add(relpath, number, text) for number, text in lines):
            break
    return _report(hits, pattern, display_path(ctx.workdir, root), glob)


def _iter_files(root: Path, workdir: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(root):
        # Pruning in place stops os.walk from descending; sorting makes results stable.
        dirnames[:] = sorted(name for name in dirnames if name not in SKIP_DIRS)
        for name in sorted(filenames):
            path = Path(dirpath, name)
            # A symlinked file may point outside the workdir; confinement applies to it too.
            if path.is_symlink() and not is_inside(workdir, path.resolve()):
                continue
            yield path


def _glob_matches(relpath: str, glob: str) -> bool:
    # "*.py" should find Python files at any depth, "src/*.py" is anchored at the root.
    name = relpath.rsplit("/", 1)[-1]
    if fnmatchcase(relpath, glob) or fnmatchcase(name, glob):
        return True
    return glob.startswith("**/") and fnmatchcase(relpath, glob[3:])


def _matching_lines(workdir: Path, path: Path, shown: str, regex: re.Pattern[str]) -> Iterator[tuple[int, str]]:
    try:
        target = path.resolve() if path.is_symlink() else path  # checked inside by _iter_files
        data = read_confined(workdir, target, shown, limit=MAX_FILE_BYTES)
    except (OSError, ToolError):  # special, too big, unreadable or vanished: searching is best-effort
        return
    if looks_binary(data):
        return
    for number, line in enumerate(data.decode("utf-8", errors="replace").split("\n"), start=1):
        line = line.rstrip("\r")
        if regex.search(line):
            yield number, line


def _report(hits: _Hits, pattern: str, where: str, glob: str | None) -> str:
    scope = where + (f" (files matching {glob!r})" if glob else "")
    if not hits.lines:
        return f"no matches for {pattern!r} in {scope}"
    found = f"{plural(len(hits.lines), 'match', 'matches')} in {plural(len(hits.files), 'file')}"
    if hits.capped:
        header = f"[showing the first {found}; there are more. Narrow the pattern, path or glob" + (
            ", or raise max_results]" if len(hits.lines) >= hits.limit else "]"
        )
    else:
        header = f"[{found}]"
    return header + "\n" + "\n".join(hits.lines)


def _summarize(args: dict[str, Any], content: str) -> str:
    if content.startswith("no matches"):
        return "no matches"
    header = content.split("\n", 1)[0].strip("[]")
    return header.split(";", 1)[0].replace("showing the first ", "") + (" (capped)" if ";" in header else "")


def search_files_tool() -> Tool:
    return Tool(
        name="search_files",
        description=(
            "Search the text files under the working directory (or a subfolder or file) for a "
            "Python regular expression. Returns 'path:line: text' for each matching line, paths "
            "relative to the working directory. Skips .git, node_modules, __pycache__, .venv and "
            f"binary files; lines are cut at {MAX_LINE_CHARS} characters."
        ),
        schema={
            "type": "object",
            "properties": {
                "pattern": {"type": "string", "minLength": 1, "description": "Python regular expression."},
                "path": {
                    "type": "string",
                    "description": ("Folder or file to search, relative to the working directory (default '.')."),
                },
                "glob": {
                    "type": "string",
                    "description": "Only search files whose name or relative path matches, e.g. '*.py'.",
                },
                "max_results": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_RESULTS_LIMIT,
                    "description": f"Maximum number of matching lines (default {DEFAULT_MAX_RESULTS}).",
                },
            },
            "required": ["pattern"],
            "additionalProperties": False,
        },
        handler=_search_files,
        summarize=_summarize,
    )

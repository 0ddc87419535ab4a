"""The task file: one JSON object a line, each a task for its own agent.

    {"id": "t1", "prompt": "Add a README", "model": "gpt-4.1", "files": {"src/a.py": "..."}}

Keys: ``id`` and ``prompt`` (required); ``provider``, ``model``, ``system``,
``max_iterations``, ``files`` (relative path -> content, laid into the task's fresh
workdir) and ``metadata`` (anything; copied into the result). A line that is not such an
object is a ``BadLine`` that names its line and what is wrong; the other lines still run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

TaskId = str | int
KNOWN_KEYS = ("id", "prompt", "provider", "model", "system", "max_iterations", "files", "metadata")
MAX_ID_CHARS = 200


@dataclass(frozen=True, slots=True)
class Task:
    """One task of a batch. ``id`` is echoed into its result as given (a string or an int)."""

    id: TaskId
    prompt: str
    provider: str | None = None
    model: str | None = None
    system: str | None = None
    max_iterations: int | None = None
    files: Mapping[str, str] = field(default_factory=dict)
    metadata: Any = None
    line: int | None = None  # where it came from in the task file

    @property
    def key(self) -> str:
        """The id as results and resume compare it."""
        return str(self.id)


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line of the task file that cannot run, and why."""

    line: int
    message: str
    task_id: TaskId | None = None

    def describe(self) -> str:
        return f"line {self.line}: {self.message}"


class TaskError(ValueError):
    """Why a task line (or a task given to the Python API) is not a valid task."""


def parse_task(data: object, line: int | None = None) -> Task:
    """A ``Task`` from one decoded line; ``TaskError`` says what is wrong with it."""
    if not isinstance(data, dict):
        raise TaskError(f"a task is a JSON object, not {_json_kind(data)}")
    unknown = sorted(set(data) - set(KNOWN_KEYS))
    if unknown:
        raise TaskError(f"unknown key {', '.join(map(repr, unknown))} (known: {', '.join(KNOWN_KEYS)})")
    return Task(
        id=_task_id(data),
        prompt=_text(data, "prompt", required=True) or "",
        provider=_text(data, "provider"),
        model=_text(data, "model"),
        system=_text(data, "system"),
        max_iterations=_max_iterations(data.get("max_iterations")),
        files=_files(data.get("files")),
        metadata=data.get("metadata"),
        line=line,
    )


def parse_lines(lines: Iterable[str]) -> Iterator[Task | BadLine]:
    """Tasks and bad lines, in file order; blank lines are skipped, a repeated id is bad."""
    seen: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield BadLine(number, f"not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        try:
            task = parse_task(data, number)
        except TaskError as exc:
            task_id = data.get("id") if isinstance(data, dict) else None
            yield BadLine(number, str(exc), task_id if isinstance(task_id, str | int) else None)
            continue
        if task.key in seen:
            yield BadLine(number, f"id {task.key!r} is already used on line {seen[task.key]}", task.id)
            continue
        seen[task.key] = number
        yield task


def read_tasks(path: str | Path) -> tuple[list[Task], list[BadLine]]:
    """Every task of the file and every bad line; OSError when the file cannot be read."""
    tasks: list[Task] = []
    bad: list[BadLine] = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for item in parse_lines(handle):
            (tasks if isinstance(item, Task) else bad).append(item)  # type: ignore[arg-type]
    return tasks, bad


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "a number" if isinstance(value, int | float) else type(value).__name__


def _task_id(data: dict[str, Any]) -> TaskId:
    if "id" not in data:
        raise TaskError('no "id": every task needs a unique id (a string or a whole number)')
    value = data["id"]
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TaskError(f'"id" must be a string or a whole number, not {_json_kind(value)}')
    if isinstance(value, str) and (not value.strip() or len(value) > MAX_ID_CHARS):
        raise TaskError(f'"id" must be a non-empty string of at most {MAX_ID_CHARS} characters')
    return value


def _text(data: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise TaskError(f'no "{key}": the task needs one (a non-empty string)')
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise TaskError(f'"{key}" must be a non-empty string, not {_json_kind(value)}')
    return value


def _max_iterations(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TaskError(f'"max_iterations" must be a whole number of at least 1, not {value!r}')
    return value


def _files(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TaskError(f'"files" must be an object of relative path -> content, not {_json_kind(value)}')
    files: dict[str, str] = {}
    for path, content in value.items():
        check_relative_path(path)
        if not isinstance(content, str):
            raise TaskError(f'"files": the content of {path!r} must be a string, not {_json_kind(content)}')
        files[path] = content
    return files


def check_relative_path(path: str) -> PurePosixPath:
    """A path that stays inside the workdir: relative, no '..', no empty or odd parts."""
    pure = PurePosixPath(path)
    if not path or "\x00" in path or "\\" in path:
        raise TaskError(f'"files": {path!r} is not a usable relative path')
    if pure.is_absolute() or path.startswith("~"):
        raise TaskError(f'"files": {path!r} is absolute; paths are relative to the task\'s workdir')
    if any(part in ("..", "") for part in path.split("/")) or pure.parts[-1:] == (".",):
        raise TaskError(f'"files": {path!r} leaves the workdir or has an empty part')
    return pure

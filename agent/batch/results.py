"""The results file: one JSON line per finished task, appended as each task ends.

Each result is one ``write`` of one whole line to a file opened with ``O_APPEND``, from
one process (the batch's driver). A ``kill -9`` can therefore lose only the tasks still in
flight; at worst the last line is cut short, and the next run drops that broken tail
before it appends. Reading takes the last line of each id, so a task that was interrupted
and then run again reads as its later result.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

# Statuses that count as done: their tasks are skipped by the next run.
DONE_STATUSES = frozenset({"completed", "failed"})


def result_line(record: Mapping[str, Any]) -> bytes:
    """The exact bytes of one result: compact JSON and a newline, no raw newline inside."""
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def iter_records(path: str | Path) -> Iterator[dict[str, Any]]:
    """Every readable result of the file in order (a broken or foreign line is skipped)."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed below; a missing file has no results)
    except FileNotFoundError:
        return
    with handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                return  # the tail of a write that a kill cut short
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict) and "id" in record:
                yield record


def latest_by_id(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The last result of each id (ids compared as strings, like task ids)."""
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        latest[str(record["id"])] = dict(record)
    return latest


def done_ids(path: str | Path, *, retry_failed: bool = False) -> set[str]:
    """Ids a new run skips: completed ones, and failed ones unless ``retry_failed``."""
    statuses = {"completed"} if retry_failed else DONE_STATUSES
    return {key for key, record in latest_by_id(iter_records(path)).items() if record.get("status") in statuses}


class ResultsFile:
    """The results file opened for appending; ``repaired`` says whether a cut tail was dropped."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.repaired = self._drop_cut_tail()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _drop_cut_tail(self) -> bool:
        """Truncate a last line without its newline (a write cut by a kill), so the next
        append starts a line of its own."""
        try:
            with open(self.path, "rb+") as handle:
                size = handle.seek(0, os.SEEK_END)
                if size == 0:
                    return False
                handle.seek(size - 1)
                if handle.read(1) == b"\n":
                    return False
                keep = _last_newline_end(handle, size)
                handle.truncate(keep)
                return True
        except FileNotFoundError:
            return False

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one result as one write (a short write, e.g. a full disk, raises)."""
        data = result_line(record)
        written = os.write(self._fd, data)
        if written != len(data):
            raise OSError(f"only {written} of {len(data)} bytes of a result reached {self.path}")

    def close(self) -> None:
        """Flush to disk and close."""
        if self._fd >= 0:
            try:
                os.fsync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> ResultsFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _last_newline_end(handle: Any, size: int) -> int:
    """The offset just past the last newline before ``size`` (0 when there is none)."""
    block = 64 * 1024
    end = size
    while end > 0:
        start = max(0, end - block)
        handle.seek(start)
        chunk: bytes = handle.read(end - start)
        index = chunk.rfind(b"\n")
        if index >= 0:
            return start + index + 1
        end = start
    return 0

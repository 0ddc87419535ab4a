"""Path confinement: file tools only ever touch files inside the working directory."""

from __future__ import annotations

from pathlib import Path

from tools.base import ToolError

__all__ = ["display_path", "is_inside", "resolve_in_workdir"]


def resolve_in_workdir(workdir: Path, path: str) -> Path:
    """Resolve ``path`` (relative to ``workdir``) and refuse it if it ends up outside.

    Symlinks are resolved before the check, so a link inside the workdir that points
    outside is refused. ``Path.resolve`` (non-strict) resolves the longest existing
    prefix and appends the rest, which is exactly "resolve the nearest existing parent"
    for a file that does not exist yet; a dangling symlink is followed to its target.
    """
    if not isinstance(path, str) or not path.strip():
        raise ToolError("path is empty; give a file path relative to the working directory")
    root = Path(workdir).resolve()
    candidate = Path(path).expanduser()  # "~/x" means home to a model; refuse it clearly
    if not candidate.is_absolute():
        candidate = root / candidate
    try:
        resolved = candidate.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: symlink loop on Python 3.11
        raise ToolError(f"cannot resolve path '{path}': {exc}") from exc
    if not is_inside(root, resolved):
        raise ToolError(f"path '{path}' is outside the working directory {root}; file tools only work inside it")
    return resolved


def is_inside(root: Path, path: Path) -> bool:
    """True when the (already resolved) ``path`` is ``root`` or below it."""
    return path == root or path.is_relative_to(root)


def display_path(workdir: Path, path: Path) -> str:
    """The path as the model should write it next time: relative to the workdir."""
    try:
        relative = path.relative_to(Path(workdir).resolve())
    except ValueError:
        return str(path)
    return relative.as_posix() if relative.parts else "."

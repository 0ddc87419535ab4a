"""The built-in tool set."""

from __future__ import annotations

from tools.base import Tool
from tools.files import list_dir_tool, patch_tool, read_file_tool, write_file_tool
from tools.search import search_files_tool
from tools.terminal import terminal_tool

__all__ = ["builtin_tools"]


def builtin_tools() -> list[Tool]:
    """Fresh instances of every built-in tool, in the order they are offered to the model."""
    return [
        read_file_tool(),
        write_file_tool(),
        patch_tool(),
        search_files_tool(),
        list_dir_tool(),
        terminal_tool(),
    ]

"""Tools the model can call: the registry that runs them and the built-in set.

This package imports only the standard library, never the rest of the project.
"""

from tools.base import Tool, ToolContext, ToolError, ToolOutcome, ToolRegistry, target_of
from tools.builtin import builtin_tools
from tools.decorator import tool
from tools.schema import validate_arguments

__all__ = [
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolOutcome",
    "ToolRegistry",
    "builtin_tools",
    "target_of",
    "tool",
    "validate_arguments",
]

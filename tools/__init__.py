"""Tools the model can call: the registry that runs them and the built-in set.

This package imports the standard library, pydantic and jsonschema (those two only when a
tool is built or checked), never the rest of the project.
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

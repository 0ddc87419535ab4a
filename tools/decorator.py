"""``@tool``: a typed Python function as a ``Tool``.

The JSON schema comes from the type hints, the descriptions from the docstring (first
paragraph for the tool, a Google-style ``Args:`` section for the parameters). Schema and
argument conversion are built together at decoration time, so an annotation the schema
cannot express fails then (``TypeError`` naming the parameter), never mid-turn.
Supported: ``str``, ``int``, ``float``, ``bool``, ``list[X]``, ``dict[str, X]``,
``Literal[...]``, ``X | None``, dataclasses and TypedDicts (nested to any depth) and
``Annotated[X, "description"]``; a ``ToolContext`` parameter receives the context.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from itertools import takewhile
from typing import Annotated, Any, Literal, NotRequired, Required, Union, get_args, get_origin, overload

from tools.base import Tool, ToolContext, ToolError
from tools.schema import json_type_name, validate_arguments

__all__ = ["DocstringInfo", "parse_docstring", "tool"]

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what both wires accept as a tool name
_SECTION_RE = re.compile(r"^([A-Za-z][A-Za-z ]*):\s*$")
_ENTRY_RE = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_PARAM_SECTIONS = frozenset({"args", "arguments", "parameters", "params", "attributes", "keyword args"})
_OTHER_SECTIONS = "keyword arguments|other parameters|returns|return|yields|raises|example|examples|note|notes|todo"
_SECTIONS = _PARAM_SECTIONS | set(_OTHER_SECTIONS.split("|")) | {"see also", "warning", "warnings", "references"}
_SCALARS: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}

# A converter turns a validated JSON value into the Python value; its 2nd argument is the path.
_Converter = Callable[[Any, str], Any]
_Function = Callable[..., Any]


class _InvalidArguments(Exception):
    """Raised by a converter when a value is not what the schema promised."""


@dataclass(frozen=True, slots=True)
class DocstringInfo:
    """What ``parse_docstring`` found: the summary paragraph and per-parameter text."""

    summary: str
    params: dict[str, str]


def parse_docstring(doc: str | None) -> DocstringInfo:
    """Read a Google-style docstring: the first paragraph (lines joined by spaces) and the
    entries of its ``Args:`` (or ``Arguments:``, ``Parameters:``, ``Attributes:``) section,
    continuation lines included. Other sections are ignored."""
    if not doc:
        return DocstringInfo("", {})
    lines = inspect.cleandoc(doc).splitlines()
    summary = [line.strip() for line in takewhile(lambda line: line.strip() and _section(line) is None, lines)]
    params: dict[str, str] = {}
    section: str | None = None
    entry_indent: int | None = None
    current: str | None = None
    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if indent == 0 and stripped:
            section, entry_indent, current = _section(line), None, None
            continue
        if section not in _PARAM_SECTIONS or not stripped:
            continue
        if entry_indent is None:
            entry_indent = indent
        match = _ENTRY_RE.match(stripped) if indent <= entry_indent else None
        if match:
            current = match.group(1)
            params[current] = match.group(2).strip()
        elif current is not None:
            params[current] = f"{params[current]} {stripped}".strip()
    return DocstringInfo(" ".join(summary), params)


def _section(line: str) -> str | None:
    match = _SECTION_RE.match(line.strip())
    if match and match.group(1).lower() in _SECTIONS:
        return match.group(1).lower()
    return None


# -- the decorator -------------------------------------------------------------------
@overload
def tool(
    fn: _Function, *, name: str | None = None, description: str | None = None, side_effects: bool = False
) -> Tool: ...


@overload
def tool(
    fn: None = None, *, name: str | None = None, description: str | None = None, side_effects: bool = False
) -> Callable[[_Function], Tool]: ...


def tool(
    fn: _Function | None = None, *, name: str | None = None, description: str | None = None, side_effects: bool = False
) -> Tool | Callable[[_Function], Tool]:
    """Turn a typed function into a ``Tool``: ``@tool`` or ``@tool(side_effects=True)``.

    ``name`` defaults to the function's name, ``description`` to the first paragraph of
    its docstring. The tool's handler converts dataclass and TypedDict arguments into
    their types, passes the ``ToolContext`` to a parameter annotated with it, and turns
    the result into text: a ``str`` as is, ``None`` as ``"done"``, anything else as JSON.
    Raises ``TypeError`` for an annotation the schema cannot express.
    """

    def build(function: _Function) -> Tool:
        return _build_tool(function, name, description, side_effects)

    return build if fn is None else build(fn)


@dataclass(frozen=True, slots=True)
class _Param:
    name: str
    positional_only: bool
    default: Any
    convert: _Converter | None  # None: the parameter receives the ToolContext


def _build_tool(fn: _Function, name: str | None, description: str | None, side_effects: bool) -> Tool:
    tool_name = name or str(getattr(fn, "__name__", ""))
    if not _NAME_RE.match(tool_name):
        raise ValueError(f"invalid tool name {tool_name!r}: use 1-64 letters, digits, '_' or '-' (pass name=...)")
    if inspect.iscoroutinefunction(fn):
        raise TypeError(f"tool {tool_name}: async functions are not supported, the handler is synchronous")
    doc = parse_docstring(inspect.getdoc(fn))
    hints = _hints(fn, f"tool {tool_name}")
    properties: dict[str, Any] = {}
    required: list[str] = []
    params: list[_Param] = []
    for param in inspect.signature(fn).parameters.values():
        where = f"tool {tool_name}: parameter {param.name!r}"
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"{where}: *args and **kwargs are not supported")
        if param.name not in hints:
            raise TypeError(f"{where} has no type annotation")
        hint = hints[param.name]
        positional_only = param.kind is param.POSITIONAL_ONLY
        if hint is ToolContext:
            params.append(_Param(param.name, positional_only, param.default, None))
            continue
        schema, convert = _compile(hint, where, ())
        schema = _described(schema, doc.params.get(param.name))
        if param.default is param.empty:
            required.append(param.name)
        else:
            schema = _with_default(schema, param.default)
        properties[param.name] = schema
        params.append(_Param(param.name, positional_only, param.default, convert))
    return Tool(
        name=tool_name,
        description=description if description is not None else doc.summary,
        schema=_object_schema(properties, required),
        handler=_handler(fn, tool_name, params),
        side_effects=side_effects,
    )


def _handler(fn: _Function, tool_name: str, params: list[_Param]) -> Callable[[dict[str, Any], ToolContext], str]:
    def handler(arguments: dict[str, Any], ctx: ToolContext) -> str:
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        try:
            for param in params:
                if param.convert is None:
                    value: Any = ctx
                elif param.name in arguments:
                    value = param.convert(arguments[param.name], param.name)
                elif param.positional_only and param.default is not inspect.Parameter.empty:
                    value = param.default  # a later positional-only argument may follow
                else:
                    continue  # the function's own default applies
                if param.positional_only:
                    args.append(value)
                else:
                    kwargs[param.name] = value
        except _InvalidArguments as exc:
            raise ToolError(f"invalid arguments for {tool_name}: {exc}") from None
        return _render(fn(*args, **kwargs))

    return handler


def _render(result: Any) -> str:
    if result is None or isinstance(result, str):
        return "done" if result is None else result
    return json.dumps(result, ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) and not isinstance(value, type) else str(value)


# -- annotations -> (schema, converter) ------------------------------------------------
def _compile(hint: Any, where: str, stack: tuple[type, ...]) -> tuple[dict[str, Any], _Converter]:
    """The JSON schema of ``hint`` and the converter from its JSON value to Python."""
    origin = get_origin(hint)
    args = get_args(hint)
    if origin is Annotated:
        schema, convert = _compile(args[0], where, stack)
        texts = [meta for meta in args[1:] if isinstance(meta, str)]
        return _described(schema, " ".join(texts) or None), convert
    if isinstance(hint, type) and hint in _SCALARS:
        return {"type": _SCALARS[hint]}, partial(_scalar, hint)
    if origin is Literal:
        return _literal_schema(args, where), lambda value, path: value
    if origin is Union or origin is types.UnionType:
        present = [arg for arg in args if arg is not type(None)]
        if len(present) != 1:
            raise TypeError(f"{where}: unsupported union {_show(hint)} (only X | None is supported)")
        schema, convert = _compile(present[0], where, stack)
        return _nullable(schema), _optional_converter(convert)
    if origin is list and len(args) == 1:
        items, convert_item = _compile(args[0], where, stack)
        return {"type": "array", "items": items}, _list_converter(convert_item)
    if origin is dict and len(args) == 2:
        if args[0] is not str:
            raise TypeError(f"{where}: dict keys must be str in {_show(hint)} (JSON object keys are strings)")
        values, convert_value = _compile(args[1], where, stack)
        schema = {"type": "object", "additionalProperties": values}
        return schema, _dict_converter(values, convert_value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _dataclass(hint, where, stack)
    if typing.is_typeddict(hint):
        return _typeddict(hint, where, stack)
    advice = " (give the item type, e.g. list[str] or dict[str, int])" if hint in (list, dict) else ""
    raise TypeError(f"{where}: unsupported type annotation {_show(hint)}{advice}")


def _dataclass(cls: type, where: str, stack: tuple[type, ...]) -> tuple[dict[str, Any], _Converter]:
    if cls in stack:
        raise TypeError(f"{where}: recursive type {cls.__name__} is not supported")
    hints = _hints(cls, where)
    doc = parse_docstring(_own_doc(cls))
    properties: dict[str, Any] = {}
    required: list[str] = []
    converters: dict[str, _Converter] = {}
    for field in dataclasses.fields(cls):
        if not field.init:
            continue
        schema, converters[field.name] = _compile(
            hints[field.name], f"{where} ({cls.__name__}.{field.name})", (*stack, cls)
        )
        schema = _described(schema, doc.params.get(field.name))
        if field.default is not dataclasses.MISSING:
            schema = _with_default(schema, field.default)
        elif field.default_factory is dataclasses.MISSING:
            required.append(field.name)
        properties[field.name] = schema

    def convert(value: Any, path: str) -> Any:
        _expect_object(value, path)
        return cls(**{key: converters[key](item, f"{path}.{key}") for key, item in value.items() if key in converters})

    return _object_schema(properties, required, doc.summary), convert


def _typeddict(cls: Any, where: str, stack: tuple[type, ...]) -> tuple[dict[str, Any], _Converter]:
    if cls in stack:
        raise TypeError(f"{where}: recursive type {cls.__name__} is not supported")
    hints = _hints(cls, where)
    doc = parse_docstring(_own_doc(cls))
    required_keys: frozenset[str] = getattr(cls, "__required_keys__", frozenset())
    properties: dict[str, Any] = {}
    required: list[str] = []
    converters: dict[str, _Converter] = {}
    for key, hint in hints.items():
        # Explicit markers win: with string annotations Python 3.11 may misfile them.
        marker = get_origin(hint)
        if marker is Required or marker is NotRequired:
            hint = get_args(hint)[0]
        if marker is Required or (marker is not NotRequired and key in required_keys):
            required.append(key)
        schema, converters[key] = _compile(hint, f"{where} ({cls.__name__}.{key})", (*stack, cls))
        properties[key] = _described(schema, doc.params.get(key))

    def convert(value: Any, path: str) -> Any:
        _expect_object(value, path)
        return {
            key: converters[key](item, f"{path}.{key}") if key in converters else item for key, item in value.items()
        }

    return _object_schema(properties, required, doc.summary), convert


def _scalar(hint: Any, value: Any, path: str) -> Any:
    # JSON has one number type: 3 may fill a float, and 3.0 an int.
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return int(value) if hint is int and isinstance(value, float) and value.is_integer() else value


def _optional_converter(convert: _Converter) -> _Converter:
    return lambda value, path: None if value is None else convert(value, path)


def _list_converter(convert_item: _Converter) -> _Converter:
    def convert(value: Any, path: str) -> Any:
        if not isinstance(value, list):
            raise _InvalidArguments(f"{path}: expected array, got {json_type_name(value)}")
        return [convert_item(item, f"{path}[{index}]") for index, item in enumerate(value)]

    return convert


def _dict_converter(value_schema: dict[str, Any], convert_value: _Converter) -> _Converter:
    def convert(value: Any, path: str) -> Any:
        _expect_object(value, path)
        # The registry's validator ignores schema-valued additionalProperties: check here.
        problems = validate_arguments({"properties": dict.fromkeys(value, value_schema)}, value)
        if problems:
            raise _InvalidArguments("; ".join(f"{path}.{problem}" for problem in problems))
        return {key: convert_value(item, f"{path}.{key}") for key, item in value.items()}

    return convert


def _expect_object(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise _InvalidArguments(f"{path}: expected object, got {json_type_name(value)}")


# -- schema pieces --------------------------------------------------------------------
def _object_schema(properties: dict[str, Any], required: list[str], description: str = "") -> dict[str, Any]:
    schema = {"type": "object", "description": description, "properties": properties, "required": required}
    return {**{k: v for k, v in schema.items() if v or k == "properties"}, "additionalProperties": False}


def _literal_schema(values: tuple[Any, ...], where: str) -> dict[str, Any]:
    kinds: list[str] = []
    for value in values:
        kind = json_type_name(value)
        if kind not in ("string", "integer", "number", "boolean", "null"):
            raise TypeError(f"{where}: Literal value {value!r} is not a JSON scalar")
        if kind not in kinds:
            kinds.append(kind)
    return {"type": kinds[0] if len(kinds) == 1 else kinds, "enum": list(values)}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    result = dict(schema)
    kind = result.get("type")
    if isinstance(kind, str) and kind != "null":
        result["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        result["type"] = [*kind, "null"]
    if "enum" in result and None not in result["enum"]:
        result["enum"] = [*result["enum"], None]  # the validator checks enum after type
    return result


def _described(schema: dict[str, Any], text: str | None) -> dict[str, Any]:
    return {**schema, "description": text} if text else schema


def _with_default(schema: dict[str, Any], default: Any) -> dict[str, Any]:
    try:
        return {**schema, "default": json.loads(json.dumps(default, allow_nan=False))}
    except (TypeError, ValueError):
        return schema  # not expressible in JSON: the function's default still applies


# -- helpers --------------------------------------------------------------------------
def _hints(obj: Any, where: str) -> dict[str, Any]:
    try:
        return typing.get_type_hints(obj, include_extras=True)
    except (NameError, TypeError) as exc:
        annotations: dict[str, Any] = {} if isinstance(obj, type) else getattr(obj, "__annotations__", {})
        for name, hint in annotations.items():  # name the parameter whose hint fails
            probe = types.SimpleNamespace(__annotations__={name: hint}, __globals__=getattr(obj, "__globals__", {}))
            try:
                typing.get_type_hints(probe)
            except (NameError, TypeError):
                where = f"{where}: parameter {name!r}"
                break
        raise TypeError(f"{where}: cannot resolve a type hint ({exc}); define the types used at module level") from exc


def _own_doc(cls: type) -> str | None:
    doc = cls.__doc__
    if doc and dataclasses.is_dataclass(cls) and doc.startswith(f"{cls.__name__}("):
        return None  # the signature dataclasses writes when there is no docstring
    return doc


def _show(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) and not get_args(hint) else repr(hint).replace("typing.", "")

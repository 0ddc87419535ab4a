"""Tool arguments checked against the tool's JSON Schema (draft 2020-12) by ``jsonschema``.

A precise message ("edits[1].old: expected string, got integer") lets the model fix its
next call. ``jsonschema`` is imported on first use: ``stayline --help`` does not load it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from jsonschema import ValidationError

__all__ = ["compile_validator", "field_path", "json_type_name", "validate_arguments"]

_MAX_ERRORS = 20  # enough to be useful, few enough not to flood the model
_MAX_SHOWN = 60  # characters of the model's own value quoted back to it
_JSON_TYPES = (("null", type(None)), ("boolean", bool), ("integer", int), ("number", float), ("string", str))
# Where jsonschema's own message does not say the limit; the others are used as they are.
_TEMPLATES = {
    "type": "expected {limit}, got {kind}",
    "enum": "expected one of {limit}, got {value}",
    "minimum": "must be >= {limit}, got {value}",
    "maximum": "must be <= {limit}, got {value}",
    "minLength": "must be at least {limit} characters long",
    "maxLength": "must be at most {limit} characters long, got {size}",
    "minItems": "must have at least {limit} items, got {size}",
    "maxItems": "must have at most {limit} items, got {size}",
}


def json_type_name(value: Any) -> str:
    """The JSON name of a Python value's type, as the model would think of it."""
    kinds = (*_JSON_TYPES, ("array", list), ("object", dict))
    return next((name for name, kind in kinds if isinstance(value, kind)), type(value).__name__)


def field_path(parts: Iterable[str | int]) -> str:
    """``("edits", 1, "old")`` as ``edits[1].old``; the empty path is ``arguments``."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in parts).lstrip(".") or "arguments"


def compile_validator(schema: dict[str, Any]) -> Callable[[Any], list[str]]:
    """A checker for ``schema``: value -> readable errors, none when the value is valid.
    Raises ``ValueError`` when ``schema`` itself is not valid JSON Schema."""
    from jsonschema import Draft202012Validator, SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ValueError(f"not a valid JSON Schema: {exc.message} (at {field_path(exc.absolute_path)})") from None
    outside = next(_references_outside(schema), None)
    if outside is not None:  # jsonschema would fetch it over the network while checking arguments
        raise ValueError(f"not self-contained: $ref {outside!r} points outside it; inline what it refers to")
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return lambda value: list(dict.fromkeys(_describe(error) for error in validator.iter_errors(value)))[:_MAX_ERRORS]


def validate_arguments(schema: dict[str, Any], value: Any) -> list[str]:
    """Return human-readable errors; an empty list means ``value`` is valid."""
    return compile_validator(schema)(value)


def _references_outside(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        yield from [ref] if isinstance(ref, str) and not ref.startswith("#") else []
    for child in node.values() if isinstance(node, dict) else node if isinstance(node, list) else ():
        yield from _references_outside(child)


def _describe(error: ValidationError) -> str:
    keyword, where = error.validator, field_path(error.absolute_path)
    limit, value = cast(Any, error.validator_value), cast(Any, error.instance)  # jsonschema types them "maybe unset"
    prefix = f"{where}: " if error.absolute_path else ""
    if keyword == "required":
        return "; ".join(f"{prefix}missing required field '{name}'" for name in limit if name not in value)
    if keyword == "additionalProperties" and limit is False:
        schema = cast(Any, error.schema)
        known, patterns = schema.get("properties", {}), schema.get("patternProperties", {})
        extra = [name for name in value if name not in known and not any(re.search(p, name) for p in patterns)]
        return "; ".join(f"{prefix}unexpected field '{name}' (allowed: {', '.join(known) or 'none'})" for name in extra)
    if keyword in ("anyOf", "oneOf") and error.context:
        return _closest_alternative(error)
    if keyword not in _TEMPLATES:  # jsonschema's own message, with the model's value cut short
        return f"{where}: {error.message.replace(repr(value), _show(value), 1)}"
    shown = _kinds(limit) if keyword == "type" else ", ".join(map(_show, limit)) if keyword == "enum" else limit
    size = len(value) if isinstance(value, (str, list)) else 0
    return f"{where}: " + _TEMPLATES[keyword].format(
        limit=shown, value=_show(value), kind=json_type_name(value), size=size
    )


def _closest_alternative(error: ValidationError) -> str:
    """anyOf/oneOf: explain the alternative the value came closest to, not all of them."""
    from jsonschema.exceptions import best_match

    # An alternative whose type does not even match is the least useful one to explain.
    mismatched = [sub for sub in error.context or () if sub.validator == "type" and not sub.relative_path]
    closer = [sub for sub in error.context or () if sub not in mismatched]
    if closer:
        return _describe(best_match(closer))
    kinds = " or ".join(_kinds(cast(Any, sub.validator_value)) for sub in mismatched)
    return f"{field_path(error.absolute_path)}: expected {kinds}, got {json_type_name(error.instance)}"


def _kinds(limit: str | list[str]) -> str:
    return " or ".join([limit] if isinstance(limit, str) else limit)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"

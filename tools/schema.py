"""Tool arguments checked against the tool's JSON Schema (draft 2020-12) by ``jsonschema``, which
is imported on first use. Each problem reads ``where: what was wrong`` in jsonschema's words."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema import ValidationError

__all__ = ["compile_validator", "field_path", "validate_arguments"]

_MAX_ERRORS = 20  # enough to be useful, few enough not to flood the model
_MAX_SHOWN = 60  # characters of the model's own value quoted back to it
# Keywords whose jsonschema message ("'abcd' is too long") does not say the limit.
_LIMITS = frozenset({"minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"})


def field_path(parts: Iterable[str | int]) -> str:
    """``("edits", 1, "old")`` as ``edits[1].old``; the empty path is ``arguments``."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in parts).lstrip(".") or "arguments"


def compile_validator(schema: dict[str, Any]) -> Callable[[Any], list[str]]:
    """A checker for ``schema``: value -> readable errors, none if valid. ``ValueError`` for a bad schema."""
    from jsonschema import Draft202012Validator, SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ValueError(f"not a valid JSON Schema: {exc.message} (at {field_path(exc.absolute_path)})") from None
    # A "$ref" anywhere whose value does not start with "#": jsonschema would fetch it over the network.
    outside = re.search(r'"\$ref": ("(?!#)(?:[^"\\]|\\.)*")', json.dumps(schema, default=str))
    if outside:
        raise ValueError(f"not self-contained: $ref {json.loads(outside[1])!r} points outside it; inline it")
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return lambda value: list(dict.fromkeys(map(_describe, validator.iter_errors(value))))[:_MAX_ERRORS]


def validate_arguments(schema: dict[str, Any], value: Any) -> list[str]:
    """Return human-readable errors; an empty list means ``value`` is valid."""
    return compile_validator(schema)(value)


def _describe(error: ValidationError) -> str:
    """For anyOf/oneOf, the alternative the value came closest to, else what each of them wanted."""
    from jsonschema.exceptions import best_match

    best = best_match([error])
    return f"{field_path(best.absolute_path)}: " + " and ".join(dict.fromkeys(map(_message, best.context or [best])))


def _message(error: ValidationError) -> str:
    value = repr(error.instance)  # how jsonschema quotes the model's value: cut it short
    message = error.message.replace(value, value[: _MAX_SHOWN - 1] + "…") if len(value) > _MAX_SHOWN else error.message
    return f"{message} ({error.validator}: {error.validator_value})" if error.validator in _LIMITS else message

"""Parameter schemas for RPC methods: each handler declares what it takes, the server checks it.

A schema is an ordered mapping of parameter name to `Param`. Params may arrive by name (an object) or
by position (an array, in schema order). Every failure is an RpcError(INVALID_PARAMS) naming the param,
so handlers receive only clean, typed keyword arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from app.rpc.protocol import ErrorCode, RpcError

_REQUIRED = object()
_TYPE_NAMES = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "an object",
}


@dataclass(frozen=True)
class Param:
    """One parameter: its JSON type, and optional default, bounds, choices and list item type."""

    type: type
    default: Any = _REQUIRED
    min: float | None = None
    max: float | None = None
    choices: frozenset[Any] | None = None
    items: type | None = None  # element type when `type` is list
    max_length: int | None = None  # for strings and lists
    secret: bool = False  # a password, phrase or key: the server hands it to the log redactor on arrival

    def __post_init__(self) -> None:
        if (self.min is not None or self.max is not None) and self.type not in (int, float):
            raise TypeError("min/max apply only to int and float params")
        if self.items is not None and self.type is not list:
            raise TypeError("items applies only to list params")

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


Schema = Mapping[str, Param]


def _is_type(value: Any, expected: type) -> bool:
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def _invalid(message: str) -> RpcError:
    return RpcError(ErrorCode.INVALID_PARAMS, message)


def _check(name: str, value: Any, spec: Param) -> Any:
    if not _is_type(value, spec.type):
        raise _invalid(f"param '{name}' must be {_TYPE_NAMES.get(spec.type, spec.type.__name__)}")
    if spec.items is not None:
        for i, item in enumerate(value):
            if not _is_type(item, spec.items):
                raise _invalid(f"param '{name}'[{i}] must be {_TYPE_NAMES.get(spec.items, spec.items.__name__)}")
    if spec.max_length is not None and len(value) > spec.max_length:
        raise _invalid(f"param '{name}' is longer than {spec.max_length}")
    if spec.min is not None and value < spec.min:
        raise _invalid(f"param '{name}' must be at least {spec.min}")
    if spec.max is not None and value > spec.max:
        raise _invalid(f"param '{name}' must be at most {spec.max}")
    if spec.choices is not None:
        values = value if isinstance(value, list) else [value]
        for v in values:
            if v not in spec.choices:
                raise _invalid(f"param '{name}' has {v!r}; expected one of {', '.join(map(str, sorted(spec.choices)))}")
    return float(value) if spec.type is float else value


def validate_params(schema: Schema, params: dict[str, Any] | list[Any]) -> dict[str, Any]:
    """Check `params` against `schema`; return keyword arguments with defaults filled in."""
    names = list(schema)
    if isinstance(params, list):
        if len(params) > len(names):
            raise _invalid(f"expected at most {len(names)} positional params, got {len(params)}")
        given = dict(zip(names, params))
    else:
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise _invalid(f"unknown param(s): {', '.join(unknown)}")
        given = dict(params)
    out: dict[str, Any] = {}
    for name, spec in schema.items():
        if name in given:
            out[name] = _check(name, given[name], spec)
        elif spec.required:
            raise _invalid(f"missing required param '{name}'")
        else:
            out[name] = spec.default
    return out


def secret_values(schema: Schema, params: dict[str, Any] | list[Any]) -> list[str]:
    """The text of every param `schema` marks secret, read from the raw params (before validation, so
    a request refused for another reason still has its secrets redacted)."""
    names = list(schema)
    given = dict(zip(names, params)) if isinstance(params, list) else params
    return [v for name, spec in schema.items() if spec.secret and isinstance(v := given.get(name), str) and v]

"""Hyper-parameters as sorted (name, decimal string) pairs, parsed against a schema.

Floats have no canonical encoding, so a task carries every number as a decimal string ("0.003",
"128"). A schema names each parameter, its kind (int or real) and its bounds; parsing rejects a
missing, unknown, duplicate, unsorted, non-decimal, non-finite or out-of-range value with
`InvalidTaskSpec`, so two nodes can never read one task differently.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from app.core.errors import PotError

# One spelling per number: no exponent, no leading zeros, no trailing zeros after the point, no "-0".
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?")


class InvalidTaskSpec(PotError):
    """A task that names an unknown model, optimiser or dataset, or bad hyper-parameters."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Num:
    """One parameter's schema: integer or real, inclusive bounds."""

    kind: type  # int or float
    lo: float
    hi: float


def parse_params(pairs: tuple[tuple[str, str], ...], schema: Mapping[str, Num], what: str) -> dict[str, float | int]:
    """Parse `pairs` against `schema`; every schema entry must be present exactly once, in order."""
    names = [n for n, _ in pairs]
    if names != sorted(set(names)):
        raise InvalidTaskSpec("bad-hyperparams", f"{what} names must be sorted and unique")
    if set(names) != set(schema):
        missing = sorted(set(schema) - set(names))
        unknown = sorted(set(names) - set(schema))
        raise InvalidTaskSpec("bad-hyperparams", f"{what}: missing {missing}, unknown {unknown}")
    out: dict[str, float | int] = {}
    for name, text in pairs:
        rule = schema[name]
        if not _DECIMAL.fullmatch(text) or text == "-0":
            raise InvalidTaskSpec("bad-hyperparams", f"{what} {name}={text!r} is not a canonical decimal")
        try:
            value = Decimal(text)
        except InvalidOperation:  # pragma: no cover - the regex already excludes these
            raise InvalidTaskSpec("bad-hyperparams", f"{what} {name}={text!r}") from None
        if rule.kind is int and value != value.to_integral_value():
            raise InvalidTaskSpec("bad-hyperparams", f"{what} {name}={text!r} must be an integer")
        if not Decimal(str(rule.lo)) <= value <= Decimal(str(rule.hi)):
            raise InvalidTaskSpec("bad-hyperparams", f"{what} {name}={text} outside [{rule.lo}, {rule.hi}]")
        out[name] = int(value) if rule.kind is int else float(value)
    return out


def format_params(values: Mapping[str, object]) -> tuple[tuple[str, str], ...]:
    """The sorted decimal-string pairs of `values` (ints and decimal strings as given)."""
    return tuple((k, str(values[k])) for k in sorted(values))

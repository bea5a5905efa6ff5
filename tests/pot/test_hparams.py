"""Hyper-parameters as decimal strings: one reading per task, every bad value a specific error."""

from __future__ import annotations

import pytest

from app.pot.hparams import InvalidTaskSpec, Num, format_params, parse_params

SCHEMA = {"hidden": Num(int, 1, 4096), "lr": Num(float, 0, 1)}


def test_parses_ints_and_reals() -> None:
    assert parse_params((("hidden", "64"), ("lr", "0.003")), SCHEMA, "t") == {"hidden": 64, "lr": 0.003}
    assert format_params({"lr": "0.1", "hidden": 8}) == (("hidden", "8"), ("lr", "0.1"))


@pytest.mark.parametrize(
    "pairs",
    [
        (("lr", "0.1"), ("hidden", "64")),  # unsorted
        (("hidden", "64"),),  # missing
        (("hidden", "64"), ("lr", "0.1"), ("zeta", "1")),  # unknown
        (("hidden", "64"), ("hidden", "65"), ("lr", "0.1")),  # duplicate
        (("hidden", "6.5"), ("lr", "0.1")),  # not an integer
        (("hidden", "64"), ("lr", "1e-3")),  # exponent form is not canonical
        (("hidden", "64"), ("lr", "NaN")),
        (("hidden", "064"), ("lr", "0.1")),  # leading zero
        (("hidden", "64"), ("lr", "0.10")),  # trailing zero: a second spelling of 0.1
        (("hidden", "64"), ("lr", "-0")),  # a second spelling of 0
        (("hidden", "64"), ("lr", "1.")),
        (("hidden", "0"), ("lr", "0.1")),  # out of range
        (("hidden", "64"), ("lr", "2")),
        (("hidden", "64"), ("lr", "-0.1")),
    ],
)
def test_rejects_bad_parameters(pairs: tuple[tuple[str, str], ...]) -> None:
    with pytest.raises(InvalidTaskSpec) as exc:
        parse_params(pairs, SCHEMA, "t")
    assert exc.value.reason == "bad-hyperparams"

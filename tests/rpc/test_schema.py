"""Parameter validation: typed keyword arguments out, a message naming the param for anything else."""

from __future__ import annotations

import pytest

from app.rpc.protocol import ErrorCode, RpcError
from app.rpc.schema import Param, validate_params

SCHEMA = {
    "limit": Param(int, default=100, min=1, max=1000),
    "level": Param(str, default="INFO", choices=frozenset({"DEBUG", "INFO", "WARNING"})),
    "ratio": Param(float, default=0.5, min=0.0, max=1.0),
    "tags": Param(list, default=None, items=str, max_length=3),
}


def test_defaults_positional_and_named() -> None:
    assert validate_params(SCHEMA, {}) == {"limit": 100, "level": "INFO", "ratio": 0.5, "tags": None}
    assert validate_params(SCHEMA, [5, "DEBUG", 1])["ratio"] == 1.0
    assert validate_params(SCHEMA, {"tags": ["a"]})["tags"] == ["a"]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"limit": 0}, "'limit' must be at least 1"),
        ({"limit": 1001}, "'limit' must be at most 1000"),
        ({"limit": 1.5}, "'limit' must be an integer"),
        ({"limit": False}, "'limit' must be an integer"),
        ({"level": "LOUD"}, "'level' has 'LOUD'"),
        ({"ratio": "0.3"}, "'ratio' must be a number"),
        ({"tags": ["a", 2]}, "'tags'[1] must be a string"),
        ({"tags": ["a", "b", "c", "d"]}, "'tags' is longer than 3"),
        ({"colour": "red"}, "unknown param(s): colour"),
        ([1, "INFO", 0.1, [], 5], "at most 4 positional"),
    ],
)
def test_errors_name_the_param(params: dict | list, fragment: str) -> None:
    with pytest.raises(RpcError) as err:
        validate_params(SCHEMA, params)
    assert err.value.code == ErrorCode.INVALID_PARAMS and fragment in err.value.message


def test_required_param_and_misdeclared_schema() -> None:
    with pytest.raises(RpcError, match="missing required param 'to'"):
        validate_params({"to": Param(str)}, {})
    with pytest.raises(TypeError):
        Param(str, min=1)
    with pytest.raises(TypeError):
        Param(int, items=int)

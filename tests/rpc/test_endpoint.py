"""Endpoint strings: parse, print, loopback only, short enough Unix paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.rpc.endpoint import MAX_UNIX_PATH, Endpoint, EndpointError, default_endpoint, unix_supported


@pytest.mark.parametrize("text", ["unix:/run/p/rpc.sock", "tcp:127.0.0.1:5000", "tcp:[::1]:80"])
def test_round_trip(text: str) -> None:
    assert str(Endpoint.parse(text)) == text


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("http://x", "must start with"),
        ("unix:", "socket path"),
        ("tcp:127.0.0.1", "port"),
        ("tcp:127.0.0.1:70000", "port"),
        ("tcp:0.0.0.0:80", "loopback"),
        ("tcp:example.com:80", "loopback IP"),
    ],
)
def test_bad_endpoints(text: str, fragment: str) -> None:
    with pytest.raises(EndpointError, match=fragment):
        Endpoint.parse(text)


def test_default_endpoint(tmp_path: Path) -> None:
    assert default_endpoint(tmp_path, "tcp").transport == "tcp"
    with pytest.raises(EndpointError, match="transport"):
        default_endpoint(tmp_path, "pipe")
    if unix_supported():
        assert default_endpoint(tmp_path).path == str(tmp_path.resolve() / "rpc.sock")
        deep = tmp_path / ("x" * 120)
        short = default_endpoint(deep)
        assert len(short.path) <= MAX_UNIX_PATH and short == default_endpoint(deep)

"""Message encoding and decoding: what the daemon accepts, and the exact error for what it refuses."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, strategies as st

from app.rpc import protocol as p


def test_request_round_trip() -> None:
    req = p.Request(method="wallet.send", params={"to": "pot1", "amount": 5}, id=3)
    assert p.decode_request(p.encode_request(req).rstrip(b"\n")) == req
    note = p.Request(method="ping", params=[], is_notification=True)
    assert b'"id"' not in p.encode_request(note)
    assert p.decode_request(p.encode_request(note)) == note


@pytest.mark.parametrize(
    ("line", "code", "fragment"),
    [
        (b"{", p.ErrorCode.PARSE_ERROR, "malformed JSON"),
        (b"\xff\xfe", p.ErrorCode.PARSE_ERROR, "UTF-8"),
        (b"[" * 100_000, p.ErrorCode.PARSE_ERROR, ""),
        (b"[]", p.ErrorCode.INVALID_REQUEST, "batch"),
        (b"42", p.ErrorCode.INVALID_REQUEST, "object"),
        (b'{"jsonrpc":"2.0","id":true,"method":"ping"}', p.ErrorCode.INVALID_REQUEST, "'id'"),
        (b'{"id":1,"method":"ping"}', p.ErrorCode.INVALID_REQUEST, "jsonrpc"),
        (b'{"jsonrpc":"2.0","id":1,"method":"../etc"}', p.ErrorCode.INVALID_REQUEST, "method"),
        (b'{"jsonrpc":"2.0","id":1,"method":"ping","params":"x"}', p.ErrorCode.INVALID_REQUEST, "params"),
    ],
)
def test_bad_requests_are_named(line: bytes, code: p.ErrorCode, fragment: str) -> None:
    with pytest.raises(p.ProtocolError) as err:
        p.decode_request(line)
    assert err.value.code == code and fragment in str(err.value)


def test_error_keeps_the_request_id_when_readable() -> None:
    with pytest.raises(p.ProtocolError) as err:
        p.decode_request(b'{"jsonrpc":"2.0","id":"abc","method":7}')
    assert err.value.request_id == "abc"


def test_server_messages_decode() -> None:
    ok = p.decode_server_message(p.encode_response(p.Response(id=1, result={"a": [1]})))
    assert ok == p.Response(id=1, result={"a": [1]})
    bad = p.decode_server_message(p.encode_response(p.Response(id=None, error=p.RpcError(-32001, "no", {"x": 1}))))
    assert isinstance(bad, p.Response) and bad.error is not None
    assert (bad.error.code, bad.error.message, bad.error.data) == (-32001, "no", {"x": 1})
    note = p.decode_server_message(
        p.encode_notification(p.Notification("event", {"kind": "log", "seq": 4, "data": {}}))
    )
    assert isinstance(note, p.Notification) and (note.kind, note.seq) == ("log", 4)
    for line in (b'{"jsonrpc":"2.0","id":1}', b'{"jsonrpc":"2.0","result":1}', b'{"jsonrpc":"2.0","id":1,"error":"x"}'):
        with pytest.raises(p.ProtocolError):
            p.decode_server_message(line)


def test_nan_is_not_sent() -> None:
    with pytest.raises(ValueError):
        p.encode({"x": float("nan")})


def test_version_negotiation() -> None:
    assert p.choose_version([1, 2, 7]) == 1
    assert p.choose_version([0, 99]) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=10,
)


@given(st.binary(max_size=200))
def test_decoder_never_crashes_on_bytes(data: bytes) -> None:
    try:
        p.decode_request(data)
    except p.ProtocolError:
        pass


@given(json_values)
def test_decoder_never_crashes_on_json(value: object) -> None:
    try:
        req = p.decode_request(json.dumps(value).encode())
    except p.ProtocolError:
        return
    assert isinstance(req.method, str) and isinstance(req.params, (dict, list))


@pytest.mark.parametrize("where", ["id", "params"])
def test_an_integer_past_the_int_str_limit_is_a_parse_error(where: str) -> None:
    big = "9" * 5000
    line = (
        f'{{"jsonrpc":"2.0","method":"ping","id":{big}}}'
        if where == "id"
        else f'{{"jsonrpc":"2.0","method":"ping","id":1,"params":[{big}]}}'
    ).encode()
    with pytest.raises(p.ProtocolError) as err:
        p.decode_request(line)
    assert err.value.code == p.ErrorCode.PARSE_ERROR
    with pytest.raises(p.ProtocolError):
        p.decode_server_message(line)


json_ish = st.text(alphabet='{}[]":,.-+eE0123456789 truefalsnl\\u', max_size=300)


@given(json_ish | st.builds(lambda n: '{"id":' + "1" * n + "}", st.integers(4000, 6000)))
def test_arbitrary_lines_fail_only_with_protocol_error(line: str) -> None:
    for parse in (p.decode_request, p.decode_server_message):
        try:
            parse(line.encode())
        except p.ProtocolError:
            pass

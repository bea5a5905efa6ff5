"""The RPC server over real sockets: auth, bad input, limits, handler failures, subscriptions."""

from __future__ import annotations

import json
import logging
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.daemon.events import DaemonWarning, EventBus, MiningState, NewBlock, Reward
from app.daemon.rpc_server import RpcServer, ServerLimits
from app.log import Redactor
from app.rpc import protocol as p
from app.rpc.auth import read_token_file, token_path, write_token_file
from app.rpc.client import RpcClient, RpcConnectionError
from app.rpc.endpoint import Endpoint, default_endpoint
from app.rpc.schema import Param


class Served:
    """A running server with its token, bus and a way to open clients."""

    def __init__(self, server: RpcServer, token: str, bus: EventBus) -> None:
        self.server, self.token, self.bus = server, token, bus

    def client(self, token: str | None = None, timeout: float = 5.0) -> RpcClient:
        return RpcClient(self.server.endpoint, self.token if token is None else token, timeout=timeout)

    def raw(self) -> socket.socket:
        return self.server.endpoint.connect(5.0)


def _serve(data_dir: Path, endpoint: Endpoint, limits: ServerLimits = ServerLimits()) -> Iterator[Served]:
    token = write_token_file(data_dir)
    bus = EventBus()
    server = RpcServer(endpoint, token, bus, limits)
    server.register("add", lambda a, b: a + b, {"a": Param(int), "b": Param(int)})
    server.register("boom", _boom)
    server.register("unsendable", lambda: {1, 2})
    server.register("refuse", _refuse)
    server.start()
    try:
        yield Served(server, token, bus)
    finally:
        server.stop()


def read_token(data_dir: Path) -> str:
    return read_token_file(token_path(data_dir))


def _boom() -> None:
    raise KeyError("secret-internal-detail")


def _refuse() -> None:
    raise p.RpcError(1001, "wallet is locked", {"hint": "unlock"})


LIMITS = ServerLimits(max_request_bytes=4096, max_connections=3, hello_timeout=0.5, send_queue=64)


@pytest.fixture(params=["unix", "tcp"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    endpoint = default_endpoint(tmp_path, request.param)
    yield from _serve(tmp_path, endpoint, LIMITS)


def _read_line(sock: socket.socket) -> dict:
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    return json.loads(buf)


def _assert_good_client_still_served(served: Served) -> None:
    with served.client() as good:
        assert good.call("add", {"a": 2, "b": 3}) == 5


def test_authenticated_client_calls_methods(served: Served) -> None:
    with served.client() as c:
        assert c.server_info["protocol"] == p.PROTOCOL_VERSION
        assert "add" in c.server_info["methods"]
        assert c.ping()
        assert c.call("add", [40, 2]) == 42
        assert c.call("version")["supported"] == list(p.SUPPORTED_VERSIONS)


def test_request_without_token_is_refused_and_closed(served: Served) -> None:
    sock = served.raw()
    sock.sendall(b'{"jsonrpc":"2.0","id":7,"method":"ping"}\n')
    answer = _read_line(sock)
    assert answer["id"] == 7
    assert answer["error"]["code"] == p.ErrorCode.UNAUTHORIZED
    assert "hello" in answer["error"]["message"]
    assert sock.recv(10) == b""  # the server hung up
    sock.close()
    _assert_good_client_still_served(served)


def test_wrong_token_is_refused(served: Served) -> None:
    other_token = "ab" * 32  # as read from another user's (or another daemon's) token file
    with pytest.raises(p.RpcError) as err:
        served.client(token=other_token).connect()
    assert err.value.code == p.ErrorCode.UNAUTHORIZED
    assert "wrong RPC token" in err.value.message
    _assert_good_client_still_served(served)


def test_silent_connection_is_closed_after_hello_timeout(served: Served) -> None:
    sock = served.raw()
    answer = _read_line(sock)
    assert answer["error"]["code"] == p.ErrorCode.UNAUTHORIZED
    assert "within" in answer["error"]["message"]
    sock.close()


def test_unsupported_protocol_version_is_explained(served: Served) -> None:
    sock = served.raw()
    hello = {"jsonrpc": "2.0", "id": 1, "method": "hello", "params": {"token": served.token, "versions": [99]}}
    sock.sendall(json.dumps(hello).encode() + b"\n")
    answer = _read_line(sock)
    assert answer["error"]["code"] == p.ErrorCode.UNSUPPORTED_PROTOCOL
    assert answer["error"]["data"] == {"supported": list(p.SUPPORTED_VERSIONS)}
    sock.close()


def test_malformed_json_gets_parse_error_and_connection_survives(served: Served) -> None:
    with served.client() as c:
        c.send_raw(b'{"jsonrpc": "2.0", "id": 1, "method": \n')
        with pytest.raises(p.RpcError) as err:
            c.call("ping")  # the parse error (id null) arrives first
        assert err.value.code == p.ErrorCode.PARSE_ERROR
        assert "malformed JSON" in err.value.message
        assert c.ping()


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_an_integer_past_the_int_str_limit_gets_a_parse_error(tmp_path: Path, transport: str) -> None:
    gen = _serve(tmp_path, default_endpoint(tmp_path, transport))
    served = next(gen)
    with served.client() as c:
        c.send_raw(b'{"jsonrpc":"2.0","id":1,"method":"add","params":[' + b"7" * 4400 + b",1]}\n")
        with pytest.raises(p.RpcError) as err:
            c.call("ping")  # the parse error (id null) arrives first
        assert err.value.code == p.ErrorCode.PARSE_ERROR
        assert c.ping()
    sock = served.raw()  # before hello too: answered, then closed
    sock.sendall(b'{"jsonrpc":"2.0","id":' + b"7" * 4400 + b',"method":"hello"}\n')
    assert _read_line(sock)["error"]["code"] == p.ErrorCode.PARSE_ERROR
    sock.close()
    gen.close()


def _authenticated_raw(served: Served) -> socket.socket:
    sock = served.raw()
    sock.sendall(
        json.dumps({"jsonrpc": "2.0", "id": 0, "method": "hello", "params": {"token": served.token}}).encode() + b"\n"
    )
    assert _read_line(sock)["result"]["protocol"] == p.PROTOCOL_VERSION
    return sock


def test_invalid_requests_are_named(served: Served) -> None:
    sock = _authenticated_raw(served)
    for raw, answer_id, fragment in [
        (b"[1, 2]\n", None, "batch"),
        (b'"hello"\n', None, "JSON object"),
        (b'{"jsonrpc":"2.0","id":1.5,"method":"ping"}\n', None, "'id'"),
        (b'{"jsonrpc":"1.0","id":3,"method":"ping"}\n', 3, "jsonrpc"),
        (b'{"jsonrpc":"2.0","id":"x","method":"Ping!"}\n', "x", "method"),
        (b'{"jsonrpc":"2.0","id":5,"method":"ping","params":5}\n', 5, "params"),
        (b'{"jsonrpc":"2.0","id":6,"method":"ping","extra":1}\n', 6, "extra"),
    ]:
        sock.sendall(raw)
        answer = _read_line(sock)
        assert answer["id"] == answer_id
        assert answer["error"]["code"] == p.ErrorCode.INVALID_REQUEST
        assert fragment in answer["error"]["message"]
    sock.sendall(b'{"jsonrpc":"2.0","method":"ping"}\n{"jsonrpc":"2.0","id":8,"method":"ping"}\n')
    assert _read_line(sock) == {"jsonrpc": "2.0", "id": 8, "result": "pong"}  # no answer to a notification
    sock.close()


def test_unknown_method_and_invalid_params(served: Served) -> None:
    with served.client() as c:
        with pytest.raises(p.RpcError) as err:
            c.call("no.such_method")
        assert err.value.code == p.ErrorCode.METHOD_NOT_FOUND
        assert "no.such_method" in err.value.message
        for params, fragment in [
            ({"a": 1}, "missing required param 'b'"),
            ({"a": "1", "b": 2}, "param 'a' must be an integer"),
            ({"a": True, "b": 2}, "param 'a' must be an integer"),
            ({"a": 1, "b": 2, "c": 3}, "unknown param(s): c"),
            ([1, 2, 3], "at most 2 positional"),
        ]:
            with pytest.raises(p.RpcError) as err:
                c.call("add", params)
            assert err.value.code == p.ErrorCode.INVALID_PARAMS
            assert fragment in err.value.message
        assert c.call("add", {"a": 1, "b": 1}) == 2


def test_oversized_body_is_refused_and_server_keeps_serving(served: Served) -> None:
    with served.client() as c:
        big = json.dumps({"jsonrpc": "2.0", "id": 9, "method": "add", "params": {"a": 1, "b": 1, "x": "y" * 10_000}})
        try:
            c.send_raw(big.encode() + b"\n")
        except RpcConnectionError:
            pass  # the server may stop reading before we finish sending
        with pytest.raises(p.RpcError) as err:
            c.next_notification(timeout=5.0)  # the error has id null: it is about the connection
        assert err.value.code == p.ErrorCode.MESSAGE_TOO_LARGE
        assert "4096" in err.value.message
    _assert_good_client_still_served(served)


def test_handler_exception_becomes_error_without_traceback(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="app.daemon.rpc_server"), served.client() as c:
        with pytest.raises(p.RpcError) as err:
            c.call("boom")
        assert err.value.code == p.ErrorCode.INTERNAL_ERROR
        assert "KeyError" in err.value.message
        assert "secret-internal-detail" not in err.value.message
        assert "Traceback" not in err.value.message
        with pytest.raises(p.RpcError) as err:
            c.call("unsendable")
        assert err.value.code == p.ErrorCode.INTERNAL_ERROR
        with pytest.raises(p.RpcError) as err:
            c.call("refuse")
        assert (err.value.code, err.value.message, err.value.data) == (1001, "wallet is locked", {"hint": "unlock"})
        assert c.ping()
    assert any("boom" in r.getMessage() and r.exc_info for r in caplog.records)


def test_too_many_connections_is_refused_then_freed(served: Served) -> None:
    clients = [served.client() for _ in range(LIMITS.max_connections)]
    for c in clients:
        c.connect()
    with pytest.raises(p.RpcError) as err:
        served.client().connect()
    assert err.value.code == p.ErrorCode.TOO_MANY_CONNECTIONS
    assert clients[0].ping()
    clients.pop().close()
    # The slot frees once the server notices the hang-up; a new client then gets in.
    for _ in range(200):
        if served.server.connection_count() < LIMITS.max_connections:
            break
        threading.Event().wait(0.01)
    _assert_good_client_still_served(served)
    for c in clients:
        c.close()


def test_notifications_reach_subscriber_in_order(served: Served) -> None:
    with served.client() as sub, served.client() as other:
        assert sub.subscribe(["new_block", "warning"]) == ["new_block", "warning"]
        assert other.subscribe(["mining_state"]) == ["mining_state"]
        for height in range(50):
            served.bus.publish(NewBlock(height=height, block_id=f"{height:064x}", timestamp=height, tx_count=0))
            if height == 25:
                served.bus.publish(DaemonWarning(message="clock skew", source="net"))
                served.bus.publish(MiningState(state="paused", reason="on battery"))
        served.bus.publish(DaemonWarning(message="end", source="test"))
        notes = [sub.next_notification(timeout=5.0) for _ in range(52)]
        assert notes.pop().data == {"message": "end", "source": "test"}
        assert [n.seq for n in notes] == list(range(1, 52))
        kinds = [n.kind for n in notes]
        assert kinds.count("warning") == 1 and kinds.index("warning") == 26
        assert [n.data["height"] for n in notes if n.kind == "new_block"] == list(range(50))
        other.subscribe(["mining_state", "warning"])
        served.bus.publish(DaemonWarning(message="end", source="test"))
        only = [other.next_notification(timeout=5.0), other.next_notification(timeout=5.0)]
        assert only.pop().kind == "warning"
        assert [(n.kind, n.data) for n in only] == [("mining_state", {"state": "paused", "reason": "on battery"})]


def test_unsubscribe_stops_delivery_and_unknown_kind_is_refused(served: Served) -> None:
    with served.client() as c:
        c.subscribe(["new_block", "reward"])
        assert c.unsubscribe(["new_block"]) == ["reward"]
        served.bus.publish(NewBlock(height=1, block_id="a", timestamp=0, tx_count=0))
        served.bus.publish(Reward(address="pot1x", amount=5, height=1, task_id="t"))
        note = c.next_notification(timeout=5.0)
        assert note is not None and (note.kind, note.seq) == ("reward", 1)  # the block was not sent
        with pytest.raises(p.RpcError) as err:
            c.subscribe(["blocks"])
        assert err.value.code == p.ErrorCode.INVALID_PARAMS and "'blocks'" in err.value.message
        assert c.unsubscribe() == []


def test_stop_sends_closing_notice(tmp_path: Path) -> None:
    gen = _serve(tmp_path, default_endpoint(tmp_path, "tcp"), LIMITS)
    served = next(gen)
    c = served.client()
    c.connect()
    served.server.stop("test over")
    notes = list(c.notifications(idle_timeout=2.0))
    assert notes and notes[-1].method == p.NOTIFY_CLOSING and notes[-1].params == {"reason": "test over"}
    c.close()
    gen.close()


def test_unix_socket_is_private_and_removed_on_stop(tmp_path: Path) -> None:
    gen = _serve(tmp_path, default_endpoint(tmp_path, "unix"), LIMITS)
    served = next(gen)
    sock_path = Path(served.server.endpoint.path)
    assert sock_path.stat().st_mode & 0o077 == 0
    gen.close()
    assert not sock_path.exists()


def test_deep_data_dir_uses_short_socket_path(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    endpoint = default_endpoint(deep, "unix")
    assert len(endpoint.path) <= 100
    gen = _serve(deep, endpoint, LIMITS)
    served = next(gen)
    _assert_good_client_still_served(served)
    gen.close()


def test_register_refuses_duplicates_and_bad_names(tmp_path: Path) -> None:
    server = RpcServer(Endpoint.tcp(), "t" * 64)
    server.register("status", lambda: {})
    with pytest.raises(ValueError):
        server.register("status", lambda: {})
    with pytest.raises(ValueError):
        server.register("ping", lambda: "mine")
    with pytest.raises(ValueError):
        server.register("Bad Name", lambda: None)


def test_refuses_to_replace_a_non_socket_file(tmp_path: Path) -> None:
    path = tmp_path / "rpc.sock"
    path.write_text("not a socket")
    server = RpcServer(Endpoint("unix", path=str(path)), "t" * 64)
    with pytest.raises(FileExistsError, match="not a socket"):
        server.start()
    assert path.read_text() == "not a socket"


def test_slow_subscriber_loses_events_visibly_and_stays_connected(tmp_path: Path) -> None:
    gen = _serve(tmp_path, default_endpoint(tmp_path, "unix"), LIMITS)
    served = next(gen)
    with served.client() as slow:
        slow.subscribe(["new_block", "warning"])
        total = 20_000  # far more than the queue (64) plus the socket buffers hold
        for height in range(total):
            served.bus.publish(NewBlock(height=height, block_id="b" * 64, timestamp=0, tx_count=0))
        assert slow.ping()  # answered after every event still queued: those are now buffered in the client
        served.bus.publish(DaemonWarning(message="end"))
        seqs, missed = [], 0
        while (note := slow.next_notification(timeout=5.0)) is not None and note.kind != "warning":
            if note.method == p.NOTIFY_MISSED:
                missed += note.params["missed"]
            else:
                seqs.append(note.seq)
        assert note is not None and note.seq == total + 1
        assert seqs == sorted(seqs) and len(seqs) < total  # some were dropped, and the gap shows in seq
        assert missed == total - len(seqs)  # and each drop was counted in a `missed` notice
        assert slow.ping()
    gen.close()


def test_a_client_that_falls_behind_is_told_at_once_how_many_events_it_missed(tmp_path: Path) -> None:
    gen = _serve(tmp_path, default_endpoint(tmp_path, "unix"), LIMITS)
    served = next(gen)
    with served.client() as slow:
        slow.subscribe(["new_block"])
        total = 5_000  # the client reads nothing meanwhile; no event follows the burst
        for height in range(total):
            served.bus.publish(NewBlock(height=height, block_id="b" * 64, timestamp=0, tx_count=0))
        notes = list(slow.notifications(idle_timeout=1.0))
        events = [n for n in notes if n.method == p.NOTIFY_EVENT]
        notices = [i for i, n in enumerate(notes) if n.method == p.NOTIFY_MISSED]
        assert notices, "dropped events were never reported"
        assert sum(notes[i].params["missed"] for i in notices) == total - len(events) > 0
        assert notes[notices[0]].params["last_seq"] <= total
        # Told ahead of the queued backlog, not after it (the old gap only showed with a later event):
        assert notices[0] < len(notes) - LIMITS.send_queue // 2
    gen.close()


def test_secret_params_reach_the_redactor_before_the_handler_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    redactor = Redactor()
    server = RpcServer(
        default_endpoint(tmp_path, "unix"), write_token_file(tmp_path), EventBus(), LIMITS, redact=redactor.add_secret
    )

    def leaky(password: str, note: str) -> None:
        logging.getLogger("test.leaky").warning("refused %s for %s", password, note)
        raise ValueError(f"cannot use {password}")

    server.register("leaky", leaky, {"password": Param(str, secret=True), "note": Param(str)})
    with server, RpcClient(server.endpoint, read_token(tmp_path)) as c:
        for password in ("pw", "hunter2-long-password"):  # short ones too: never an error of their own
            with pytest.raises(p.RpcError) as err:
                c.call("leaky", {"password": password, "note": "ordinary"})
            assert err.value.code == p.ErrorCode.INTERNAL_ERROR
            with pytest.raises(p.RpcError):
                c.call("leaky", [password, 5])  # refused by the schema: still redacted
            text = "\n".join(redactor.redact(r.getMessage() + (r.exc_text or "")) for r in caplog.records)
            assert password not in text.split() and "ordinary" in text


def test_every_secret_param_of_the_daemon_contract_is_marked_secret(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from app.daemon.handlers import register_all

    server = RpcServer(default_endpoint(tmp_path, "unix"), "t" * 64)
    register_all(server, SimpleNamespace(wallet=None, mining=None))  # type: ignore[arg-type]
    secret_names = {"password", "passphrase", "phrase", "private_key", "token", "seed"}
    checked = 0
    for name, method in server._methods.items():
        for param, spec in method.schema.items():
            if param in secret_names:
                assert spec.secret, f"{name}({param}) is not marked secret"
                checked += 1
    assert checked >= 7  # create, restore (3), unlock, send, export, import (2)


def _hog(endpoint: Endpoint, count: int, stop: threading.Event, opened: list[int]) -> None:
    """Another program without the token: keep `count` silent connections open, reopening each one the
    moment the server drops it."""
    socks: list[socket.socket] = []
    try:
        while not stop.is_set():
            while len(socks) < count and not stop.is_set():
                try:
                    socks.append(endpoint.connect(1.0))
                    opened[0] += 1
                except OSError:
                    break
            ready, _, _ = select.select(socks, [], [], 0.02)
            for sock in ready:
                sock.close()
                socks.remove(sock)
    finally:
        for sock in socks:
            sock.close()


@pytest.mark.parametrize(("transport", "hogs"), [("tcp", 16), ("tcp", 150), ("unix", 150)])
def test_silent_connections_reopened_as_they_drop_never_lock_the_owner_out(
    tmp_path: Path, transport: str, hogs: int
) -> None:
    gen = _serve(tmp_path, default_endpoint(tmp_path, transport), ServerLimits(hello_timeout=1.0))
    served = next(gen)
    stop, opened = threading.Event(), [0]
    hog = threading.Thread(target=_hog, args=(served.server.endpoint, hogs, stop, opened), daemon=True)
    hog.start()
    try:
        deadline = time.monotonic() + 10
        while opened[0] < min(hogs, 64):
            assert time.monotonic() < deadline, "the hog could not open its connections"
            time.sleep(0.01)
        time.sleep(0.1)
        for _ in range(6):  # the owner's client, again and again while the hog holds its connections
            with served.client(timeout=5.0) as owner:
                assert owner.call("add", {"a": 2, "b": 3}) == 5
            time.sleep(0.2)
        assert served.server.connection_count() <= 1  # no silent connection ever took a slot
    finally:
        stop.set()
        hog.join(5)
        gen.close()
    assert opened[0] >= min(hogs, 64)

"""The rehearsal's WAN relay on real sockets: its delay is felt, loss stalls but never corrupts, a cut holds
traffic and healing lets it through (issue 13)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from app.net.wan_relay import Control, LinkProfile, RelaySpec, relay_in_thread

HOST = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@pytest.fixture
def echo() -> Iterator[int]:
    """An echo server on loopback; yields its port."""
    server = socket.create_server((HOST, 0))
    port = int(server.getsockname()[1])
    done = threading.Event()

    def serve_one(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    def accept() -> None:
        server.settimeout(0.2)
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield port
    done.set()
    thread.join(2)
    server.close()


def _spec(target: int, delay_s: float, loss: float = 0.0) -> RelaySpec:
    return RelaySpec("b", (HOST, _free_port()), (HOST, target), LinkProfile(delay_s, loss))


def _round_trip(sock: socket.socket, payload: bytes) -> tuple[bytes, float]:
    started = time.monotonic()
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = sock.recv(65536)
        assert chunk, "the relay closed the connection"
        got += chunk
    return got, time.monotonic() - started


def test_a_round_trip_costs_twice_the_one_way_delay(echo: int) -> None:
    spec = _spec(echo, delay_s=0.1)
    with relay_in_thread([spec]), socket.create_connection(spec.listen, timeout=5) as sock:
        times = [_round_trip(sock, b"ping %d" % i)[1] for i in range(5)]
    assert min(times) >= 0.2, times
    assert max(times) < 0.2 + 0.25, times  # delay is all it adds, with room for a slow machine


def test_emulated_loss_stalls_but_every_byte_arrives_in_order(echo: int) -> None:
    spec = _spec(echo, delay_s=0.0, loss=0.3)
    payload = os.urandom(1 << 20)
    with relay_in_thread([spec], seed=7) as relay, socket.create_connection(spec.listen, timeout=30) as sock:
        sent = threading.Thread(target=sock.sendall, args=(payload,))
        sent.start()
        got = b""
        while len(got) < len(payload):
            chunk = sock.recv(65536)
            assert chunk
            got += chunk
        sent.join()
        assert relay.stats.stalls > 0  # some chunks were 'lost' and waited for their retransmission
    assert got == payload


def test_a_cut_holds_traffic_and_healing_lets_it_through(echo: int) -> None:
    spec = _spec(echo, delay_s=0.02)
    control = Control(by_pid={os.getpid(): "a"})  # this process dials: it is host "a"; the relay fronts "b"
    with relay_in_thread([spec], control) as relay, socket.create_connection(spec.listen, timeout=5) as sock:
        assert _round_trip(sock, b"before")[0] == b"before"
        relay.control = Control(cut=frozenset({"a"}), by_pid=control.by_pid)
        sock.settimeout(0.6)
        sock.sendall(b"during")
        with pytest.raises(TimeoutError):
            sock.recv(100)  # nothing crosses the cut
        relay.control = Control(by_pid=control.by_pid)  # healed
        sock.settimeout(5)
        assert sock.recv(100) == b"during"  # held, not lost: TCP would have retransmitted it
        assert relay.stats.held_s > 0.3
        # a link that does not cross the cut is untouched: cutting "a" and "b" together
        relay.control = Control(cut=frozenset({"a", "b"}), by_pid=control.by_pid)
        assert _round_trip(sock, b"same side")[0] == b"same side"

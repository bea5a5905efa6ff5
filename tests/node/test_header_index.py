"""The light client's header index and the generated signed chain it is measured on.

A generated chain (real Ed25519 QCs, one hand-over with a changed member) must pass `HeaderChain`
from genesis and from a checkpoint, and a tampered header must not. The index must resume exactly
where continuing would be, survive a SIGKILL inside a batch's transaction, and refuse a file of
another chain or a damaged one with a message that says how to recover.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from app.core.errors import InvalidQuorumCertificate
from app.core.genesis import genesis_block
from app.core.types import SignedHeader
from app.node.chainfiles import Checkpoint, checkpoint_json, load_checkpoint
from app.node.chaingen import certify, generate_headers, iter_headers, make_genesis
from app.node.header_index import CorruptIndexError, ForeignIndexError, HeaderIndex, HeaderIndexError
from app.node.headers import HeaderChain, HeaderChainError
from app.node.light import BATCH, LightClient

N = 300
EPOCH = 20  # rotation at epoch 2: header 39 announces a committee with a new member
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gen() -> tuple[Any, list[SignedHeader], dict[bytes, Any]]:
    return generate_headers(N, epoch_length=EPOCH)


class Peer:
    """A full node reduced to what `LightClient.sync` asks: headers from memory, up to `upto`."""

    def __init__(self, headers: list[SignedHeader], upto: int) -> None:
        self.headers, self.upto = headers, upto

    def call(self, fn: Any, timeout_s: float = 0) -> Any:
        return fn(self)

    def call_headers(self, peer: str, start: int, count: int) -> list[SignedHeader]:
        return self.headers[start - 1 : min(start - 1 + count, self.upto)]


def test_generated_chain_passes_from_genesis_with_a_changed_member(gen, continued) -> None:  # type: ignore[no-untyped-def]
    genesis, headers, keys = gen
    first, hc = HeaderChain(genesis).committee, continued
    assert hc.height == N and hc.committee.epoch == N // EPOCH
    assert set(hc.committee.members) != set(first.members)  # the hand-over changed a member
    assert set(hc.committee.members) <= set(keys)


def test_generated_chain_passes_from_a_shipped_checkpoint(gen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    genesis, headers, _ = gen
    at = 150
    sh, committee = list(iter_headers(at, epoch_length=EPOCH))[-1]
    assert sh == headers[at - 1]
    (tmp_path / "checkpoint.json").write_text(checkpoint_json(Checkpoint(sh.header, committee)))
    cp = load_checkpoint(tmp_path / "checkpoint.json", genesis)
    hc = HeaderChain(genesis, (cp.header, cp.committee))
    for signed in headers[at:]:
        hc.extend(signed)
    assert hc.head == headers[-1].header


def test_tampered_headers_are_refused(gen) -> None:  # type: ignore[no-untyped-def]
    genesis, headers, keys = gen
    hc = HeaderChain(genesis)
    for sh in headers[:9]:
        hc.extend(sh)
    nxt = headers[9]
    assert nxt.qc is not None
    sig = nxt.qc.signatures[0]
    flipped = sig.replace(signature=bytes([sig.signature[0] ^ 1]) + sig.signature[1:])
    bad_qc = SignedHeader(nxt.header, nxt.qc.replace(signatures=(flipped,) + nxt.qc.signatures[1:]))
    with pytest.raises(InvalidQuorumCertificate):
        hc.extend(bad_qc)
    other = next(m for m in hc.committee.members if m != nxt.header.proposer)
    usurped = nxt.header.replace(proposer=other)
    signers = [keys[s.voter] for s in nxt.qc.signatures]
    with pytest.raises(HeaderChainError, match="non-leader"):
        hc.extend(SignedHeader(usurped, certify(usurped, signers)))  # a valid QC does not make it the leader's
    hc.extend(nxt)
    assert hc.height == 10


def test_hash_at_and_heights(gen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    genesis, headers, _ = gen
    with HeaderIndex(tmp_path / "headers.sqlite") as index:
        client = LightClient(genesis, Peer(headers, N), index=index)  # type: ignore[arg-type]
        assert client.sync("peer") == N
        assert (index.first_height, index.height) == (0, N)
        assert index.hash_at(0) == genesis_block(genesis)[0].block_hash
        assert all(index.hash_at(sh.header.height) == sh.header.block_hash for sh in headers)
        assert index.hash_at(N + 1) is None and index.hash_at(-1) is None


@pytest.fixture(scope="module")
def continued(gen) -> HeaderChain:  # type: ignore[no-untyped-def]
    chain = HeaderChain(gen[0])
    for sh in gen[1]:
        chain.extend(sh)
    return chain


@pytest.mark.parametrize("stop", [39, BATCH + 7])  # 39: a hand-over to a changed committee is pending
def test_resume_after_restart_equals_continuing(gen, continued, tmp_path: Path, stop: int) -> None:  # type: ignore[no-untyped-def]
    genesis, headers, _ = gen
    path = tmp_path / "headers.sqlite"
    with HeaderIndex(path) as index:
        assert LightClient(genesis, Peer(headers, stop), index=index).sync("p") == stop  # type: ignore[arg-type]
    with HeaderIndex(path) as index:
        point = index.resume_point()
        assert point is not None and index.height == stop
        assert point[0].height == (stop - 1 if stop == 39 else stop)  # a pending head resumes one before it
        resumed = LightClient(genesis, Peer(headers, N), index=index)  # type: ignore[arg-type]
        assert resumed.sync("p") == N
        hashes = [index.hash_at(h) for h in range(N + 1)]
    assert resumed.headers.head == continued.head and resumed.headers.committee == continued.committee
    assert hashes[1:] == [sh.header.block_hash for sh in headers]


def test_index_from_a_checkpoint_keeps_no_hash_below_it(gen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    genesis, headers, _ = gen
    sh, committee = list(iter_headers(200, epoch_length=EPOCH))[-1]
    cp = Checkpoint(sh.header, committee)
    with HeaderIndex(tmp_path / "h.sqlite") as index:
        client = LightClient(genesis, Peer(headers, N), cp, index=index)  # type: ignore[arg-type]
        assert client.sync("p") == N
        assert (index.first_height, index.height) == (200, N) and index.hash_at(199) is None
    with HeaderIndex(tmp_path / "h.sqlite") as index:  # a later start with the same checkpoint resumes
        assert LightClient(genesis, Peer(headers, N), cp, index=index).headers.height == N  # type: ignore[arg-type]


def test_another_chain_or_fork_is_refused_with_what_to_do(gen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    genesis, headers, _ = gen
    path = tmp_path / "headers.sqlite"
    with HeaderIndex(path) as index:
        LightClient(genesis, Peer(headers, 50), index=index).sync("p")  # type: ignore[arg-type]
    with pytest.raises(ForeignIndexError, match="delete .* to resync"):
        HeaderIndex(path, make_genesis(epoch_length=EPOCH, seed=7))
    fork_header = headers[20].header.replace(state_root=bytes(32))
    fork = Checkpoint(fork_header, list(iter_headers(21, epoch_length=EPOCH))[-1][1])
    with HeaderIndex(path) as index, pytest.raises(ForeignIndexError, match="checkpoint's height 21"):
        index.resume(genesis, (fork.header, fork.committee))


def test_a_damaged_file_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "headers.sqlite"
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(CorruptIndexError, match="delete .* to resync") as err:
        HeaderIndex(path)
    assert isinstance(err.value, ValueError)


def test_records_must_continue_and_agree(gen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    genesis, headers, _ = gen
    with HeaderIndex(tmp_path / "h.sqlite", genesis) as index:
        chain = index.resume(genesis)
        with pytest.raises(HeaderIndexError, match="does not continue"):
            index.record([headers[1].header])
        index.save(chain, [])
        index.record([sh.header for sh in headers[:5]])
        index.record([sh.header for sh in headers[3:6]])  # overlap that agrees is fine
        with pytest.raises(ForeignIndexError):
            index.record([headers[2].header.replace(view=1)])
        assert index.height == 6


CHILD = """
import sys
from pathlib import Path
from app.node.chaingen import generate_headers
from app.node.header_index import HeaderIndex

class Slow(list):
    # a batch that announces it is inside the transaction and then waits to be killed
    def __iter__(self):
        for n, item in enumerate(list.__iter__(self)):
            if n == 25:
                print("mid-batch", flush=True)
                sys.stdin.readline()
            yield item

genesis, headers, _ = generate_headers(150, epoch_length=20)
index = HeaderIndex(Path(sys.argv[1]), genesis)
chain = index.resume(genesis)
for sh in headers[:100]:
    chain.extend(sh)
index.save(chain, [sh.header for sh in headers[:100]])
for sh in headers[100:]:
    chain.extend(sh)
index.save(chain, Slow(sh.header for sh in headers[100:]))
"""


def test_a_sigkilled_writer_leaves_the_last_whole_batch(gen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    genesis, headers, _ = gen
    path = tmp_path / "headers.sqlite"
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CHILD), str(path)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "mid-batch"
        child.kill()  # SIGKILL inside the open transaction of the second batch
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    with HeaderIndex(path, genesis) as index:
        assert index.height == 100 and index.first_height == 0
        point = index.resume_point()
        assert point is not None and point[0] == headers[99].header
        chain = index.resume(genesis)
        for sh in headers[100:]:
            chain.extend(sh)
        index.save(chain, [sh.header for sh in headers[100:]])
        assert index.height == N


def test_any_thread_may_record_and_read(gen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A light daemon's RPC thread proves an account on demand and syncs the header chain to the
    answering peer's head first: it records into the index the sync loop opened. SQLite's default
    same-thread check turned that into a CorruptIndexError ("delete the index") on a status call."""
    import threading

    genesis, headers, _ = gen
    with HeaderIndex(tmp_path / "headers.sqlite") as index:
        client = LightClient(genesis, Peer(headers, BATCH), index=index)  # type: ignore[arg-type]
        assert client.sync("loop") == BATCH  # this thread opened and recorded
        failures: list[BaseException] = []
        reads: list[int] = []

        def rpc_thread() -> None:
            try:
                client.net = Peer(headers, N)  # type: ignore[assignment]  # a peer further ahead
                client.sync("ahead")  # records on another thread
            except BaseException as exc:  # noqa: BLE001 - reported below
                failures.append(exc)

        def reader() -> None:
            try:
                for _ in range(200):
                    reads.append(index.height or 0)
                    index.hash_at(1)
            except BaseException as exc:  # noqa: BLE001 - reported below
                failures.append(exc)

        threads = [threading.Thread(target=rpc_thread), threading.Thread(target=reader)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert failures == []
        assert index.height == N and reads and all(BATCH <= r <= N for r in reads)
        assert all(index.hash_at(sh.header.height) == sh.header.block_hash for sh in headers)

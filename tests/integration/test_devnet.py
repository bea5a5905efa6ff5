"""End to end on 127.0.0.1: one devnet of 4 validators and 2 miners, real processes, real training.

The scenarios share one devnet (starting six torch processes on a small machine is the slow part) and
run in any order: each starts with every member running (a member an earlier test left down is
restarted and caught up first), waits for what it needs (receipts, rewards), and waits on conditions,
never on timings. Only the slashing runs last: it shrinks the committee for good.
"""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from app.core.accounts import Account, account_key
from app.core.bft import SigningRecord, SigningStateStore, Step
from app.core.errors import StorageError
from app.core.storage import Store
from app.core.types import GRAINS_PER_POT, Committee
from app.core.validation import leader
from app.net.facade import NetThread
from app.net.host import NetConfig
from app.net.topics import TopicKind
from app.node.devnet import Devnet, DevnetConfig
from app.node.node import SIGNING_RECORD_FILE
from app.node.traces import PROTOCOL_NAME as TRACE_PROTOCOL, TraceRequest, TraceResponse
from tests.integration.hostile import equivocate, flood

ROUNDS = 3
VALIDATORS = ("v0", "v1", "v2", "v3")
MEMBERS = (*VALIDATORS, "m0", "m1")


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    root = tmp_path_factory.mktemp("devnet")
    config = DevnetConfig(
        validators=4, miners=2, datadir=root, rounds=ROUNDS, local_steps=32, checkpoint_interval=8, round_wait_s=5.0
    )
    with Devnet(config) as net:
        yield net
    for m in net.members.values():  # every child stopped, none orphaned
        assert m.process is None


@pytest.fixture(autouse=True)
def reap_children(devnet: Devnet) -> Iterator[None]:
    """tests/conftest.py's reaper, sparing the devnet's running members and their training workers: a test that
    restarts a member may leave it running for the next."""
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    yield
    spared = set(before)
    for m in devnet.members.values():
        if m.process is not None and m.process.poll() is None:
            spared.add(m.process.pid)
            try:
                spared |= {c.pid for c in psutil.Process(m.process.pid).children(recursive=True)}
            except psutil.NoSuchProcess:
                pass
    for child in psutil.Process().children(recursive=True):
        if child.pid not in spared:
            try:
                child.send_signal(signal.SIGKILL)
                child.wait(timeout=5)
            except (psutil.NoSuchProcess, psutil.TimeoutExpired, subprocess.TimeoutExpired):
                pass


@pytest.fixture(autouse=True)
def whole_devnet(devnet: Devnet, reap_children: None) -> None:
    """Every member runs when a test starts: one that an earlier test left down restarts from its store and
    catches up first."""
    down = [n for n in MEMBERS if devnet.members[n].process is None or devnet.members[n].process.poll() is not None]
    if not down:
        return
    started = time.time()
    target = max(height(devnet, v) for v in VALIDATORS if v not in down)
    for n in down:
        devnet.kill(n)  # reaped or killed: forget the dead process (and close its log) before starting again
        devnet.start(n)
    devnet.wait_for(
        lambda: all(devnet.status(n)["written_at"] > started and height(devnet, n) >= target for n in down),
        timeout_s=180,
    )


def receipts_of(net: Devnet, name: str) -> list:  # type: ignore[type-arg]
    """The receipts of member `name` in v0's finalised blocks."""
    with store_of(net, "v0") as store:
        top = store.head().height
        return [
            r
            for x in range(1, top + 1)
            for r in store.block_by_height(x).body.receipts
            if r.miner == net.members[name].key.public_key
        ]


def store_of(net: Devnet, name: str) -> Store:
    assert net.genesis is not None
    return Store(net.members[name].datadir / "chain.sqlite", net.genesis.params.chain_id)


def frozen_head(net: Devnet, name: str) -> int:
    """The committed height in a member's database, read only: a `Store` would take the write lock, which a
    member frozen (SIGSTOP) in the middle of a commit may hold."""
    path = net.members[name].datadir / "chain.sqlite"
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
    try:
        row = conn.execute("SELECT height FROM head").fetchone()
        return -1 if row is None else int(row[0])
    finally:
        conn.close()


def height(net: Devnet, name: str) -> int:
    st = net.status(name)
    return -1 if st is None else int(st["height"])


def test_devnet_trains_rounds_with_falling_loss_and_pays_both_miners(devnet: Devnet) -> None:
    def finished() -> bool:
        task = devnet.task_status("v0")
        return bool(task) and task["status"] == "finished"

    devnet.wait_for(finished, timeout_s=240, poll_s=0.3)
    assert devnet.task_status("v0")["round"] == ROUNDS
    with store_of(devnet, "v0") as store:  # the rounds' validation losses, read from the chain (in any order)
        top = store.head().height
        losses = [r.validation_loss_micro for x in range(1, top + 1) for r in store.block_by_height(x).body.results]
    assert len(losses) == ROUNDS
    assert losses[-1] < losses[0], f"validation loss did not fall: {losses}"
    for miner in ("m0", "m1"):
        st = devnet.wait_for(lambda: devnet.status(miner)["balance"] > 0 and devnet.status(miner), timeout_s=30)
        assert st["balance"] >= GRAINS_PER_POT  # a share of the minted reward and of the fee, per round
        # it trained in its worker process (a child of the node, started once), and signed with its own key
        process = devnet.members[miner].process
        assert process is not None
        training = devnet.status(miner)["training"]
        assert training["worker_pid"] != process.pid
        assert training["worker_pid"] in {c.pid for c in psutil.Process(process.pid).children()}
        # its rounds trained in a worker process: read from its log, which outlives a restart (an earlier test
        # may have restarted the miner after the task finished, and the status counts only this process's rounds)
        log = (devnet.members[miner].datadir / "node.log").read_text(errors="replace")
        assert re.search(r"training round \d+ of task [0-9a-f]+ in worker process \d+", log)
        receipts = receipts_of(devnet, miner)
        assert receipts
        for receipt in receipts:
            receipt.verify_signature()
    # every validator agrees on the chain it finalised
    h = min(height(devnet, v) for v in ("v0", "v1", "v2", "v3"))
    hashes = set()
    for v in ("v0", "v1", "v2", "v3"):
        with store_of(devnet, v) as store:
            hashes.add(store.header_by_height(h).block_hash)
    assert len(hashes) == 1


def test_fresh_full_node_syncs_to_the_same_state_root(devnet: Devnet) -> None:
    target = height(devnet, "v0")
    devnet.add_node("f0", role="full")
    devnet.wait_for(lambda: height(devnet, "f0") >= target, timeout_s=120)
    with store_of(devnet, "f0") as mine, store_of(devnet, "v0") as theirs:
        assert mine.header_by_height(target) == theirs.header_by_height(target)
        assert mine.header_by_height(target).state_root == theirs.header_by_height(target).state_root
    devnet.kill("f0")  # started by this test, so the per-test reaper would kill it anyway


def test_light_client_reaches_the_head_and_proves_a_miner_balance(devnet: Devnet, tmp_path: Path) -> None:
    miner = devnet.members["m0"]
    devnet.wait_for(lambda: devnet.status("m0")["balance"] > 0, timeout_s=300)  # a round paid it
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "light",
            "--genesis",
            str(devnet.root / "genesis.json"),
            "--address",
            miner.key.address.hex(),
            "--bootstrap",
            devnet.members["v1"].multiaddr,
            "--datadir",
            str(tmp_path / "light"),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    with store_of(devnet, "v1") as store:
        head = store.header_by_height(report["height"])
        proven = store.header_by_height(report["proven_height"])
    assert report["head_hash"] == head.block_hash.hex()
    assert report["proven_state_root"] == proven.state_root.hex()
    assert report["balance"] > 0
    assert report["height"] >= height(devnet, "v0") - 10  # it reached the head (which keeps moving)


def test_killing_the_leader_changes_view_and_blocks_still_finalise(devnet: Devnet) -> None:
    st = devnet.status("v0")
    members = [bytes.fromhex(k) for k in st["committee"]]
    nxt = st["height"] + 2  # the height after the one being decided now
    victim_key = leader(Committee(epoch=st["epoch"], members=tuple(members)), nxt, 0)
    victim = next(n for n, m in devnet.members.items() if m.key.public_key == victim_key)
    devnet.kill(victim)
    survivors = [v for v in ("v0", "v1", "v2", "v3") if v != victim]
    start = height(devnet, survivors[0])
    devnet.wait_for(lambda: all(height(devnet, v) >= max(start, nxt) + 4 for v in survivors), timeout_s=180)
    with store_of(devnet, survivors[0]) as store:
        header = store.header_by_height(nxt)
        assert header.proposer != victim_key
        assert header.view >= 1  # the committee moved past the dead leader's view
    devnet.victim = victim  # type: ignore[attr-defined]


@pytest.mark.last_in_module  # the slashed member leaves the committee for good: no fault tolerance after it
def test_a_validator_signing_two_blocks_at_one_height_is_caught_and_slashed(devnet: Devnet, tmp_path: Path) -> None:
    culprit = devnet.members[getattr(devnet, "victim", "v3")]
    devnet.kill(culprit.name)  # its key is now ours: play the Byzantine member with it
    honest = [n for n in ("v0", "v1", "v2", "v3") if n != culprit.name]
    h = height(devnet, honest[0])
    assert devnet.genesis is not None

    def slashed() -> bool:
        with store_of(devnet, honest[0]) as store:
            raw = store.state_value(account_key(culprit.key.address))
            return raw is not None and Account.decode(raw).bond == 0

    equivocate(
        devnet.genesis.params.chain_id,
        [devnet.members[n].multiaddr for n in honest],
        culprit.key,
        lambda: height(devnet, honest[0]),
        tmp_path / "byzantine.key",
        until=slashed,
        timeout_s=120,
    )
    with store_of(devnet, honest[0]) as store:
        top = store.head().height
        blocks = [store.block_by_height(x) for x in range(h, top + 1)]
    evidence = [e for b in blocks for e in b.body.evidence]
    assert evidence and evidence[0].vote_a.voter == culprit.key.public_key
    assert evidence[0].vote_a.block_hash != evidence[0].vote_b.block_hash


def test_a_peer_flooding_garbage_is_banned_and_nothing_it_sent_is_stored(devnet: Devnet, tmp_path: Path) -> None:
    name = next(n for n in ("v0", "v1", "v2", "v3") if n != getattr(devnet, "victim", None))
    assert devnet.genesis is not None
    attacker = flood(devnet.genesis.params.chain_id, devnet.members[name].multiaddr, tmp_path / "attacker.key")

    def banned() -> bool:
        peers = {p["peer_id"]: p for p in devnet.status(name)["peers"]}
        return attacker in peers and peers[attacker]["banned"]

    devnet.wait_for(banned, timeout_s=60, poll_s=0.5)
    assert devnet.status(name)["mempool"] == 0
    h = height(devnet, name)
    devnet.wait_for(lambda: height(devnet, name) >= h + 2, timeout_s=60)  # still finalising
    # Other tests of this module may have sent real transactions (task posts, transfers) just before: what
    # must hold is that nothing stored came from outside the devnet's own keys, i.e. from the flood.
    ours = {m.key.public_key for m in devnet.members.values()} | {devnet.requester.public_key}
    with store_of(devnet, name) as store:
        stored = [tx for x in range(max(1, h - 5), h + 1) for tx in store.block_by_height(x).body.transactions]
    assert all(getattr(tx, "sender", None) in ours for tx in stored), [type(tx).__name__ for tx in stored]


def test_a_killed_validator_restarts_from_its_store_and_catches_up(devnet: Devnet) -> None:
    name = getattr(devnet, "victim", "v3")
    live = next(v for v in ("v0", "v1", "v2", "v3") if v != name)  # the victim's own status file is stale
    devnet.kill(name)
    stopped_at = height(devnet, name)
    target = height(devnet, live)
    log_path = devnet.members[name].datadir / "node.log"
    before = len(re.findall(r"resumed at height (\d+)", log_path.read_text()))
    started = time.time()
    devnet.start(name)
    devnet.wait_for(
        lambda: devnet.status(name)["written_at"] > started and height(devnet, name) >= target, timeout_s=120
    )
    resumed = [int(x) for x in re.findall(r"resumed at height (\d+)", log_path.read_text())]
    assert len(resumed) > before and resumed[-1] >= stopped_at > 0  # nothing final was lost to SIGKILL
    devnet.kill(name)  # started by this test; stop it before the reaper does


def test_a_validator_killed_while_locked_restarts_with_its_lock(devnet: Devnet) -> None:
    """Kill a member between its precommit and the commit (locked mid-height); it comes back locked.

    The node saves its signing record (last signed height/view/step and its lock) before each
    broadcast. The member is frozen (SIGSTOP) as soon as its record shows a precommit with a lock;
    the other members are frozen with it; if no store has committed that height yet it is SIGKILLed
    there and restarted while the others stay frozen (else all are thawed and it is tried again).
    Restarted, it resumes that height at that view with that lock, signs again (its record moves on),
    every node holds one block at that height, and no evidence names it.
    """
    victim = getattr(devnet, "victim", None)
    name = next(n for n in ("v3", "v2", "v1", "v0") if n != victim)
    # Every other member runs, so the scenario checks the restarted member's record, not a bare quorum's
    # liveness (that case, cured by the resume record, is tests/core/test_bft_restart_liveness.py).
    started_here = [v for v in ("v0", "v1", "v2", "v3") if devnet.members[v].process is None]
    for v in started_here:
        devnet.start(v)
    try:
        _kill_locked_and_restart(devnet, name)
    finally:
        for v in (*started_here, name):
            devnet.kill(v)


def _kill_locked_and_restart(devnet: Devnet, name: str) -> None:
    member = devnet.members[name]
    others = [v for v in ("v0", "v1", "v2", "v3") if v != name]
    store_path = SigningStateStore(member.datadir / SIGNING_RECORD_FILE)
    assert member.process is not None

    def signal_others(sig: int) -> None:
        for v in others:
            process = devnet.members[v].process
            assert process is not None
            process.send_signal(sig)

    caught: SigningRecord | None = None
    deadline = time.monotonic() + 120
    while caught is None and time.monotonic() < deadline:
        try:
            record = store_path.load()
        except StorageError:
            record = None  # never torn: only a read racing the first save of a new file
        if record is None or record.step != Step.PRECOMMIT or record.locked_hash is None:
            time.sleep(0.005)
            continue
        member.process.send_signal(signal.SIGSTOP)
        signal_others(signal.SIGSTOP)  # the whole committee holds still: nobody can finalise that height now
        try:
            heads = [frozen_head(devnet, v) for v in (name, *others)]
            final_nowhere = max(heads) < record.height and store_path.load() == record
        except sqlite3.OperationalError:
            final_nowhere = False  # a member frozen mid-commit holds the write lock: try another moment
        except BaseException:
            signal_others(signal.SIGCONT)
            member.process.send_signal(signal.SIGCONT)
            raise
        if final_nowhere:
            caught = record
        else:
            signal_others(signal.SIGCONT)
            member.process.send_signal(signal.SIGCONT)
            time.sleep(0.005)
    assert caught is not None, "never caught the member locked before the height was final anywhere"
    try:
        devnet.kill(name)  # SIGKILL of a stopped process: nothing more is written
        assert caught.member == member.key.public_key
        before = max(height(devnet, v) for v in others)
        devnet.start(name)
        log_path = member.datadir / "node.log"
        lock_line = (
            f"resuming height {caught.height} at view {caught.view} with its lock on {caught.locked_hash.hex()[:16]}"
        )
        devnet.wait_for(lambda: lock_line in log_path.read_text(), timeout_s=90, poll_s=0.5)
    finally:
        signal_others(signal.SIGCONT)
    devnet.wait_for(lambda: all(height(devnet, v) >= before + 3 for v in (*others, name)), timeout_s=180)

    def signed_again() -> bool:  # it may have reached those heights by sync alone, before its first new vote
        try:
            after = store_path.load()
        except StorageError:
            return False
        return after is not None and after.position > caught.position  # never behind its record

    devnet.wait_for(signed_again, timeout_s=120)
    finalised = set()
    for v in (*others, name):  # one block at the height it was locked on, everywhere
        with store_of(devnet, v) as store:
            finalised.add(store.header_by_height(caught.height).block_hash)
    assert len(finalised) == 1
    with store_of(devnet, others[0]) as store:
        top = store.head().height
        evidence = [
            e for x in range(max(1, caught.height - 2), top + 1) for e in store.block_by_height(x).body.evidence
        ]
    culprits = {e.vote_a.voter if hasattr(e, "vote_a") else e.proposer for e in evidence}
    assert member.key.public_key not in culprits  # the restart signed nothing contradicting its record


def test_a_restarted_miner_still_serves_the_traces_of_its_receipts(devnet: Devnet, tmp_path: Path) -> None:
    """Traces are on disk, not only in memory: after SIGKILL and restart the miner answers checks."""
    miner = devnet.members["m1"]
    mine = devnet.wait_for(lambda: receipts_of(devnet, "m1"), timeout_s=300)  # its first round is on chain
    devnet.kill("m1")
    devnet.start("m1")
    assert devnet.genesis is not None
    net = NetThread(
        NetConfig(
            chain_id=devnet.genesis.params.chain_id, key_path=tmp_path / "checker.key", topics=(TopicKind.BLOCKS,)
        )
    )
    net.start()
    try:
        peer = devnet.wait_for(
            lambda: _try(lambda: net.call(lambda h: h.connect(miner.multiaddr), timeout_s=10)), timeout_s=60
        )
        for receipt in mine:
            root = receipt.commitments_root
            resp = net.call(lambda h: h.request(peer, TRACE_PROTOCOL, TraceRequest(root), TraceResponse), timeout_s=30)
            assert resp.trace.root == root
    finally:
        net.stop()
    devnet.kill("m1")


def _try(fn):  # type: ignore[no-untyped-def]
    try:
        return fn()
    except Exception:  # noqa: BLE001 - not listening yet: the caller polls
        return None

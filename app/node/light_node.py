"""A light node: the volunteer daemon's view of a shared chain without storing it.

It follows signed headers (QCs and committee hand-overs checked by `HeaderChain`, the verified head
and every verified header hash kept in a small SQLite index so a restart resumes where it stopped),
and after each new head proves what the daemon shows and mines on (`ProvenState`): the chain's
counters and committees, every task, the wallet's accounts and the rewards of this miner's receipts,
all from range proofs against the head's state root (app/core/entryproof.py). A full node whose
answer does not verify is refused, reported, and the next connected peer asked.

Mining needs no chain either: the round's checkpoint and shards come from peers by hash (checked by
the blob store), the receipt is gossiped on the receipts topic and repeated until its round closes,
and the trace and checkpoints behind it are served to verifiers while it can still be challenged.
A light node relays nothing it cannot check: other peers' receipts and transactions are ignored.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.accounts import ACCOUNT_PREFIX, EMPTY_ACCOUNT, Account
from app.core.blobstore import BlobStore
from app.core.entryproof import verify_range
from app.core.errors import EncodingError, InvalidProof
from app.core.genesis import load_genesis
from app.core.history import HistoryItem, HistoryPage, verify_history_page
from app.core.rewards import REWARD_PREFIX
from app.core.state import COMMITTEE_KEY, META_KEY, NEXT_COMMITTEE_KEY
from app.core.tasks import TASK_PREFIX
from app.core.types import AnyTransaction, BlockHeader, WorkReceipt
from app.miner.loop import RoundJob
from app.miner.recompute import CheckpointRecomputer
from app.net.facade import NetThread
from app.net.host import NetConfig
from app.net.messages import ERR_NOT_FOUND, ErrorResponse, RangeQuery
from app.net.peers import Offence
from app.net.protocols import Providers
from app.net.topics import TopicKind
from app.net.validators import Verdict
from app.node.blob_serving import read_or_recompute
from app.node.chainfiles import Checkpoint
from app.node.header_index import HeaderIndex
from app.node.light import LightClient
from app.node.light_rewards import RewardLog
from app.node.light_state import ProvenState, proven_state
from app.node.manifests import (
    PROTOCOL_NAME as MANIFEST_PROTOCOL,
    ManifestBook,
    ManifestRequest,
    ManifestResponse,
    find_manifest,
)
from app.node.mining import MinerDesk
from app.node.traces import PROTOCOL_NAME as TRACE_PROTOCOL, TraceBook, TraceRequest, TraceResponse, still_challengeable
from app.node.work import TrainingWork
from app.pot.datasets import DatasetManifest
from app.pot.proof import TrainingTrace

log = logging.getLogger(__name__)

MAX_QUERIES = 16  # range queries per state-entries request (app/net/messages.py)
PROVE_ATTEMPTS = 3  # a server whose head moves between pages is asked again this many times
REPUBLISH_S = 5.0  # a receipt is gossiped again this often until its round closes
REFUSALS_KEPT = 32
HEADERS_FILE = "headers.sqlite"
TRACES_DIR = "traces"
MANIFESTS_DIR = "manifests"
REWARDS_FILE = "rewards.log"


@dataclass(frozen=True)
class LightConfig:
    datadir: Path
    genesis_path: Path
    bootstrap: tuple[str, ...] = ()
    listen_host: str = "127.0.0.1"
    listen_port: int = 0
    checkpoint: Checkpoint | None = None  # a trusted start shipped with the chain's files (None: genesis)
    sync_interval_s: float = 1.0


class LightNode:
    """See the module docstring. `run()` blocks (the daemon's main thread) until `stop()`."""

    def __init__(self, config: LightConfig) -> None:
        self.config = config
        config.datadir.mkdir(parents=True, exist_ok=True)
        self.genesis = load_genesis(config.genesis_path)
        self.params = self.genesis.params
        self.blobs = BlobStore(config.datadir / "blobs")
        self.manifests = ManifestBook(config.datadir / MANIFESTS_DIR)
        self.view: ProvenState | None = None
        self.traces = TraceBook(directory=config.datadir / TRACES_DIR, retain=self._challengeable)
        self.index = HeaderIndex(config.datadir / HEADERS_FILE, self.genesis)
        self.rewards = RewardLog(config.datadir / REWARDS_FILE)
        self.recompute: CheckpointRecomputer | None = None  # the daemon's miner serves dropped checkpoints
        self.net = NetThread(
            NetConfig(
                chain_id=self.params.chain_id,
                key_path=config.datadir / "p2p.key",
                listen_host=config.listen_host,
                listen_port=config.listen_port,
                bootstrap=config.bootstrap,
                topics=(TopicKind.RECEIPTS, TopicKind.TXS),
                heartbeat_s=0.5,
            ),
            Providers(blob=lambda d, offset, n: read_or_recompute(self.blobs, self.recompute, d, offset, n)),
        )
        self.client = LightClient(self.genesis, self.net, config.checkpoint, index=self.index)
        self.work = TrainingWork(
            self.params.chain_id, self.blobs, self.fetch_blob, _no_trace, manifest=self.dataset_manifest
        )
        self.miner: MinerDesk | None = None
        self.refused: list[tuple[float, str, str]] = []  # (time, peer, why): answers that did not verify
        self._headers_lock = threading.Lock()  # the header chain: the sync loop and on-demand proofs
        self._state_lock = threading.Lock()  # watched addresses, own receipts, sent transactions
        self._watched: set[bytes] = set()
        self._receipts: dict[bytes, tuple[WorkReceipt, float]] = {
            r.receipt_id: (r, 0.0) for r in self.traces.receipts()
        }
        self._sent: dict[bytes, AnyTransaction] = {}  # tx id -> our transaction not yet seen in a nonce
        self._unpaid_checked: frozenset[bytes] = frozenset()  # own receipts the last view proved unpaid
        self._stop = threading.Event()
        self._listeners: list[Callable[[ProvenState], None]] = []

    # ------------------------------------------------------------------ lifecycle

    def run(self) -> None:
        self.net.start()
        try:
            self.net.call(self._install)
            log.info(
                "light node for %s listening on %s; verified headers up to %d",
                self.params.chain_id,
                ", ".join(self.net.listen_addrs),
                self.client.headers.height,
            )
            while not self._stop.is_set():
                try:
                    self.tick()
                except Exception:  # one bad round of syncing must not end the daemon: say so, go on
                    log.exception("light sync failed; trying again")
                self._stop.wait(self.config.sync_interval_s)
        finally:
            self.net.stop()
            self.index.close()
            if self.recompute is not None:
                self.recompute.close()

    def stop(self) -> None:
        self._stop.set()

    async def _install(self, host) -> None:  # type: ignore[no-untyped-def]
        """Serve traces and manifests to verifiers; relay only what this node publishes itself."""
        self_id = host.peer_id

        def own_only(forwarder: str, record: Any) -> Verdict:
            return Verdict.ACCEPT if forwarder == self_id else Verdict.IGNORE

        for kind in host.config.topics:
            host.set_validator(kind, own_only)
        host.serve(TRACE_PROTOCOL, TraceRequest, self._serve_trace)
        host.serve(MANIFEST_PROTOCOL, ManifestRequest, self._serve_manifest)

    def on_head(self, listener: Callable[[ProvenState], None]) -> None:
        """Call `listener` with each new proven view (on the sync thread)."""
        self._listeners.append(listener)

    # ------------------------------------------------------------------ following the chain

    def tick(self) -> None:
        """Sync headers and prove a new view from the first peer that answers truthfully; then offer
        open rounds to the miner and repeat our receipts."""
        view = None
        for peer in self._peers():
            try:
                with self._headers_lock:
                    self.client.sync(peer)
                if self.view is None or self.client.headers.height != self.view.height or self._stale():
                    view = self._prove_view(peer)
                break
            except Exception as exc:  # noqa: BLE001 - any failure of this peer: refuse it, ask the next
                self._refuse(peer, exc)
        if view is not None:
            self._adopt(view)
        if self.view is not None:
            if self.miner is not None:
                self.miner.on_head(self.view)
            self._republish(self.view)

    def _peers(self) -> list[str]:
        peers: list[str] = self.net.call(lambda h: _connected(h), timeout_s=10)
        random.shuffle(peers)
        return peers

    def _stale(self) -> bool:
        """Whether the view misses a watched address or one of our receipts (added since it was proven)."""
        view = self.view
        if view is None:
            return True
        with self._state_lock:
            return any(a not in view._accounts for a in self._watched) or any(
                rid not in view._rewards and rid not in self._unpaid_checked for rid in self._receipts
            )

    def _prove_view(self, peer: str) -> ProvenState:
        with self._state_lock:
            watched = tuple(sorted(self._watched))
            receipts = tuple(sorted(self._receipts))
        prefixes = [META_KEY, COMMITTEE_KEY, NEXT_COMMITTEE_KEY, TASK_PREFIX]
        prefixes += [ACCOUNT_PREFIX + a for a in watched] + [REWARD_PREFIX + rid for rid in receipts]
        header, entries = self.prove_entries(peer, prefixes)
        view = proven_state(self.params, header, entries, watched, lookup=self.prove_account)
        self._unpaid_checked = frozenset(rid for rid in receipts if rid not in view._rewards)
        return view

    def _adopt(self, view: ProvenState) -> None:
        self.view = view
        for rid, reward in view._rewards.items():
            self.rewards.record(rid, reward, view.height)
        with self._state_lock:
            for tx_id, tx in list(self._sent.items()):
                account = view._accounts.get(tx.sender_address)
                if account is not None and account.nonce > tx.nonce:
                    del self._sent[tx_id]  # included (or replaced): no longer pending
        for listener in list(self._listeners):
            try:
                listener(view)
            except Exception:  # a listener's bug must not stop the chain's progress
                log.exception("light view listener failed")

    # ------------------------------------------------------------------ proofs

    def prove_entries(self, peer: str, prefixes: Sequence[bytes]) -> tuple[BlockHeader, dict[bytes, bytes]]:
        """Every entry under each of `prefixes`, proven complete against one verified header of `peer`'s
        head; raises `InvalidProof` when the answer does not verify (a lie, or a head we cannot check)."""
        for _ in range(PROVE_ATTEMPTS):
            height: int | None = None
            entries: dict[bytes, bytes] = {}
            queries = [RangeQuery(prefix=p, start=b"") for p in prefixes]
            moved = False
            while queries and not moved:
                batch, queries = queries[:MAX_QUERIES], queries[MAX_QUERIES:]
                response = self.net.call(lambda h, b=tuple(batch): h.call_state_entries(peer, b), timeout_s=30)
                if height is None:
                    height = response.height
                elif response.height != height:
                    moved = True  # the server's head moved between requests: ask again from the start
                    break
                if not 1 <= len(response.ranges) <= len(batch):
                    raise InvalidProof(f"asked {len(batch)} ranges, served {len(response.ranges)}")
                queries += batch[len(response.ranges) :]  # a full response answers the first ones: ask again
                header = self._header_at(peer, height)
                for query, proof in zip(batch, response.ranges):
                    if proof.prefix != query.prefix or proof.start != query.start:
                        raise InvalidProof("a range proof answers another query")
                    page = verify_range(header.state_root, proof)
                    entries.update(page.entries)
                    if page.truncated and page.next_start is not None:
                        queries.append(RangeQuery(prefix=query.prefix, start=page.next_start))
            if not moved and height is not None:
                return self._header_at(peer, height), entries
        raise InvalidProof(f"the peer's head kept moving over {PROVE_ATTEMPTS} attempts")

    def _header_at(self, peer: str, height: int) -> BlockHeader:
        """The verified header at `height`, syncing from `peer` first if it is ahead of us."""
        with self._headers_lock:
            headers = self.client.headers
            if height > headers.height:
                self.client.sync(peer)
            for header in headers.recent:
                if header.height == height:
                    return header
            low = headers.recent[0].height
        raise InvalidProof(f"answer for height {height}, outside the verified headers {low}..{headers.height}")

    def prove_account(self, address: bytes) -> Account:
        """`address`'s account proven now by the first peer that answers truthfully (blocking)."""
        errors = []
        for peer in self._peers():
            try:
                _, entries = self.prove_entries(peer, [ACCOUNT_PREFIX + address])
                value = entries.get(ACCOUNT_PREFIX + address)
                return Account.decode(value) if value is not None else EMPTY_ACCOUNT
            except (InvalidProof, EncodingError, OSError, TimeoutError, RuntimeError) as exc:
                self._refuse(peer, exc)
                errors.append(f"{peer[:12]}: {exc}")
        raise InvalidProof("no peer gave a proven answer: " + ("; ".join(errors) or "no peer is connected"))

    def proven_history(self, address: bytes, limit: int) -> list[HistoryItem]:
        """`address`'s newest transactions, each proven included under a header this node verified (its
        hash is in the header index); a peer that serves one that does not verify is refused and the next
        asked. A peer can leave items out, never invent one."""
        errors = []
        for peer in self._peers():
            try:
                response = self.net.call(lambda h, p=peer: h.call_history(p, address, limit), timeout_s=30)
                verify_history_page(HistoryPage(items=response.items), address, self.index.hash_at)
                return list(response.items)
            except Exception as exc:  # noqa: BLE001 - any failure of this peer: refuse it, ask the next
                self._refuse(peer, exc)
                errors.append(f"{peer[:12]}: {exc}")
        raise InvalidProof("no peer served a proven history: " + ("; ".join(errors) or "no peer is connected"))

    def _refuse(self, peer: str, exc: BaseException) -> None:
        why = f"{type(exc).__name__}: {exc}"
        log.warning("refused the answer of peer %s (%s); asking another", peer[:16], why)
        self.refused.append((time.time(), peer, why))
        del self.refused[:-REFUSALS_KEPT]
        if isinstance(exc, InvalidProof):
            self.net.submit(lambda h: _report(h, peer))

    # ------------------------------------------------------------------ the wallet's and miner's needs

    def watch(self, addresses: set[bytes]) -> None:
        """Prove these accounts too with every view (the wallet's addresses)."""
        with self._state_lock:
            self._watched |= addresses

    def install_miner(self, desk: MinerDesk) -> None:
        for receipt, _ in self._receipts.values():
            desk.mark_started(receipt.task_id, receipt.round)  # signed before a restart: never again
        self.miner = desk

    def add_receipt(self, receipt: WorkReceipt, trace: TrainingTrace) -> None:
        """Keep the trace (durably, before the receipt goes out) and gossip the receipt."""
        self.traces.add(trace, receipt)
        with self._state_lock:
            self._receipts[receipt.receipt_id] = (receipt, time.monotonic())
        self.publish(receipt)

    def send(self, tx: AnyTransaction) -> None:
        with self._state_lock:
            self._sent[tx.tx_id] = tx
        self.publish(tx)

    def sent_by(self, public_key: bytes) -> list[AnyTransaction]:
        with self._state_lock:
            return sorted((t for t in self._sent.values() if t.sender == public_key), key=lambda t: t.nonce)

    def publish(self, record: Any) -> None:
        future = self.net.submit(lambda h: h.publish(record))
        future.add_done_callback(lambda f: f.exception() and log.info("publish failed: %s", f.exception()))

    def _republish(self, view: ProvenState) -> None:
        """Gossip is best effort: repeat each receipt until its round closes."""
        now = time.monotonic()
        with self._state_lock:
            for rid, (receipt, at) in list(self._receipts.items()):
                task = view.task(receipt.task_id)
                if task is None or task.round != receipt.round:
                    if view.pending_reward(rid) is None:
                        log.warning("round %d closed without this miner's receipt (it came too late)", receipt.round)
                    del self._receipts[rid]
                    continue
                if now - at >= REPUBLISH_S:
                    self._receipts[rid] = (receipt, now)
                    self.publish(receipt)

    def own_receipt_ids(self) -> set[bytes]:
        with self._state_lock:
            return set(self._receipts) | set(self.rewards.receipt_ids())

    def _challengeable(self, receipt: WorkReceipt) -> bool:
        view = self.view
        return True if view is None else still_challengeable(receipt, view)

    # ------------------------------------------------------------------ data by hash

    def fetch_blob(self, digest: bytes) -> bytes:
        return self.net.call(lambda h: h.fetch_blob(digest), timeout_s=120)

    def dataset_manifest(self, root: bytes) -> DatasetManifest:
        return find_manifest(self.manifests, self.net, root)

    def ensure_task_data(self, job: RoundJob) -> None:
        self.work.ensure(job.base_checkpoint)
        self.work.training_data(job.spec)

    async def _serve_trace(self, peer: str, req: TraceRequest) -> TraceResponse | ErrorResponse:
        trace = self.traces.get(req.commitments_root)
        if trace is None:
            return ErrorResponse(code=ERR_NOT_FOUND, message="no such trace")
        return TraceResponse(trace=trace)

    async def _serve_manifest(self, peer: str, req: ManifestRequest) -> ManifestResponse | ErrorResponse:
        manifest = self.manifests.get(req.dataset_root)
        if manifest is None:
            return ErrorResponse(code=ERR_NOT_FOUND, message="no such data set")
        return ManifestResponse(manifest=manifest)


def _no_trace(receipt: WorkReceipt) -> TrainingTrace:
    raise LookupError("a light node verifies no one else's receipts")


async def _connected(host) -> list[str]:  # type: ignore[no-untyped-def]
    return list(host.connected_peers())


async def _report(host, peer: str) -> None:  # type: ignore[no-untyped-def]
    host.report(peer, Offence.BAD_RESPONSE)

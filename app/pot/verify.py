"""Checking a work receipt: cheap rules first, then re-execution of q challenged segments (the update
rule between the first of them and the others, while the blobs are read ahead; docs/PROTOCOL.md §8).

The segments are the verifier's fixed draw for the receipt (`app.pot.challenge.draw_segments`: its
deterministic signature over the receipt id), so a miner can neither predict them nor re-roll them by
withholding a blob: a challenged blob that is not served is the verdict `unavailable`, and asking
again challenges the same segments. A segment `j` is re-executed from the committed checkpoint `j`
(parameters and optimiser state) on the batches of steps `j*k .. (j+1)*k - 1` drawn from the
*receipt's* miner key, and compared with the committed checkpoint `j+1`:

- for equality, bit for bit, when the verifier reproduces the device configuration the receipt
  commits to (`app.pot.config`: same class, torch build and CPU kernels; it replays with the
  receipt's thread count); then the replayed checkpoint's hash is compared with the committed leaf
  first, so a matching segment end is never fetched (a verifier on the receipt's configuration
  fetches q checkpoints fewer per receipt: 305 MB each for the size ladder's largest model);
- otherwise tensor by tensor against the bounds measured for the pair (verifier class, receipt class)
  (`app.pot.tolerance`, docs/TOLERANCES.md). Integer state (AdamW's step counters) is always exact.

Every failure is a `Verdict(False, reason, detail)` whose reason is a stable identifier (listed in
docs/PROTOCOL.md, Part 4); `verify` never raises on hostile input.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import torch

from app.core import crypto
from app.core.errors import InvalidReceipt, InvalidSignature
from app.core.types import TaskSpec, WorkReceipt
from app.pot import config, optim, registry, tolerance
from app.pot.blobs import REASON_MISSING, BlobStore, fetch_verified
from app.pot.challenge import draw_segments
from app.pot.datasets import Split, round_seed
from app.pot.engine import Session, run_steps, update_tensors
from app.pot.hparams import InvalidTaskSpec
from app.pot.proof import LOSS_SCALE, CheckpointOpening, loss_micro, segment_count
from app.pot.tensors import decode_tensors, tensors_hash

DEFAULT_Q = 2

LOSS_TOLERANCE = 0.01  # relative, on the last segment's mean loss, when the replay is not exact
UNAVAILABLE = "unavailable"  # a challenged blob (checkpoint or update) was not served: a rejection


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    reason: str
    detail: str = ""


ACCEPTED = "ok"


@dataclass(frozen=True)
class TaskView:
    """What the chain says about a task now: its spec, open round, global checkpoint and anchor."""

    spec: TaskSpec
    current_round: int
    current_checkpoint: bytes
    anchor_block_hash: bytes
    finished: bool = False


class Openings(Protocol):
    """Answers challenges: the checkpoint hash at a leaf of the receipt's trace, with its proof."""

    def opening(self, index: int) -> CheckpointOpening: ...


@dataclass(frozen=True)
class ReplayRule:
    """How one receipt's segments are compared: bit for bit in its configuration, or within bounds."""

    bounds: tolerance.Bounds
    replay_config: config.DeviceConfig | None  # set when exact: the configuration to replay in

    @property
    def exact(self) -> bool:
        return self.replay_config is not None


def replay_rule(
    verifier: config.DeviceConfig,
    receipt: config.DeviceConfig,
    table: Mapping[tuple[str, ...], tolerance.Bounds] = tolerance.CROSS_BOUNDS,
    model: str = "",
) -> ReplayRule:
    """Exact when `verifier` reproduces `receipt`'s configuration, else the pair's measured bounds."""
    if config.reproducible(verifier, receipt):
        return ReplayRule(tolerance.EXACT, receipt)
    return ReplayRule(tolerance.cross_bounds(verifier.device_class, receipt.device_class, table, model), None)


class DecodedCache:
    """Decoded checkpoints by blob hash, up to `max_bytes` of tensors, shared read-only between verifications.

    Every receipt of a round starts from the same global checkpoint, so a verifier that keeps the
    round's base decoded reads, hashes and decodes it once per round instead of once per receipt (a
    full checkpoint: 129 MB for the size ladder's `l`). The key is the content address of bytes already
    checked against it, so an entry can never stand for other tensors. Holders must not change the
    tensors: `Session.load` copies them, the other readers only read. The least recently used entries
    go first; a set larger than the whole budget is not kept.
    """

    DEFAULT_MAX_BYTES = 640 << 20  # two bases of the size ladder's largest rung (305 MB each)

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError("a decoded cache's budget cannot be negative")
        self.max_bytes = max_bytes
        self._items: OrderedDict[bytes, tuple[dict[str, torch.Tensor], int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def held_bytes(self) -> int:
        return self._bytes

    def get(self, digest: bytes) -> dict[str, torch.Tensor] | None:
        with self._lock:
            found = self._items.get(digest)
            if found is None:
                return None
            self._items.move_to_end(digest)
            return found[0]

    def put(self, digest: bytes, tensors: dict[str, torch.Tensor]) -> None:
        size = sum(t.numel() * t.element_size() for t in tensors.values())
        with self._lock:
            old = self._items.pop(digest, None)
            if old is not None:
                self._bytes -= old[1]
            if size > self.max_bytes:
                return
            self._items[digest] = (tensors, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped


class Verifier:
    """Verifies receipts against the chain's view of tasks, fetching blobs from `store`.

    `key` is the verifier's signing key: its draw for a receipt is fixed by it (a fresh key per
    verifier when none is given, so one verifier never draws twice for one receipt). `device_config`
    is what this verifier can reproduce (default: this process on `device`). `cache` keeps the
    round's decoded base checkpoint across receipts (`DecodedCache`; none: decoded per receipt).
    """

    def __init__(
        self,
        chain_id: str,
        tasks: Mapping[bytes, TaskView],
        store: BlobStore,
        training_data: Callable[[TaskSpec], Split],
        device: torch.device,
        q: int = DEFAULT_Q,
        *,
        key: crypto.SigningKey | None = None,
        bounds: Mapping[tuple[str, ...], tolerance.Bounds] = tolerance.CROSS_BOUNDS,
        device_config: config.DeviceConfig | None = None,
        cache: DecodedCache | None = None,
    ) -> None:
        self.chain_id, self.tasks, self.store = chain_id, tasks, store
        self.training_data, self.device, self.q, self.bounds = training_data, device, q, bounds
        self.key = key or crypto.SigningKey.generate()
        self.device_config = device_config or config.current(device)
        self.cache = cache

    def draw(self, receipt: WorkReceipt, n_segments: int) -> list[int]:
        """This verifier's challenge for `receipt`: always the same segments for the same receipt."""
        return draw_segments(self.key, self.chain_id, receipt.receipt_id, n_segments, self.q)

    def rule(self, receipt: WorkReceipt) -> ReplayRule:
        """Exact or bounded comparison for `receipt`; `InvalidReceipt` when its label does not parse."""
        try:
            declared = config.parse(receipt.device_class)
        except config.BadDeviceConfig as exc:
            raise InvalidReceipt("unknown-device-class", str(exc)) from None
        view = self.tasks.get(receipt.task_id)
        return replay_rule(self.device_config, declared, self.bounds, view.spec.model if view else "")

    def verify(self, receipt: WorkReceipt, openings: Openings, segments: Sequence[int] | None = None) -> Verdict:
        """The verdict on `receipt`; `segments` overrides this verifier's fixed draw (fraud proofs, tests)."""
        try:
            self._check(receipt, openings, segments)
        except InvalidReceipt as exc:
            return Verdict(False, exc.reason, exc.detail)
        return Verdict(True, ACCEPTED)

    def verify_segment(self, receipt: WorkReceipt, openings: Openings, segment: int) -> Verdict:
        """Re-execute one segment of an already included receipt (a fraud-proof check).

        Applies the receipt's own rules (chain, signature, task spec, device class, openings) but not
        the "open round" ones: the task view given for the receipt's task is the one of the round it
        was included in, which may be over.
        """
        try:
            view = self._common(receipt)
            session = Session(view.spec, self.device)
            n = segment_count(view.spec)
            if not 0 <= segment < n:
                raise InvalidReceipt("bad-segment", f"segment {segment} outside 0..{n - 1}")
            opened = _Opened(openings, self.store, receipt.commitments_root, n + 1, self.cache)
            seed = round_seed(view.anchor_block_hash, receipt.miner, receipt.task_id, receipt.round)
            self._replay(session, self.training_data(view.spec), seed, opened, segment, n, receipt)
        except InvalidReceipt as exc:
            return Verdict(False, exc.reason, exc.detail)
        return Verdict(True, ACCEPTED)

    # ------------------------------------------------------------------ rules

    def _common(self, r: WorkReceipt) -> TaskView:
        """Rules every check shares: chain, signature, a known and trainable task, a known device class."""
        if r.chain_id != self.chain_id:
            raise InvalidReceipt("wrong-chain", f"receipt is for {r.chain_id!r}")
        try:
            r.verify_signature()
        except InvalidSignature as exc:
            raise InvalidReceipt("bad-signature", str(exc)) from None
        view = self.tasks.get(r.task_id)
        if view is None:
            raise InvalidReceipt("unknown-task", r.task_id.hex()[:16])
        try:
            registry.check_task_spec(view.spec)  # on the meta device: cheap, allocates nothing
        except InvalidTaskSpec as exc:
            raise InvalidReceipt(exc.reason, exc.detail) from None
        self.rule(r)
        return view

    def _check(self, r: WorkReceipt, openings: Openings, segments: Sequence[int] | None) -> None:
        view = self._common(r)
        if view.finished:
            raise InvalidReceipt("task-finished", r.task_id.hex()[:16])
        if r.round != view.current_round:
            raise InvalidReceipt("wrong-round", f"receipt for round {r.round}, the open round is {view.current_round}")
        if r.base_checkpoint != view.current_checkpoint:
            raise InvalidReceipt("wrong-base", "receipt does not start from the current global checkpoint")
        spec = view.spec
        if r.steps != spec.local_steps:
            raise InvalidReceipt("wrong-steps", f"{r.steps} steps claimed, the task asks {spec.local_steps}")
        n = segment_count(spec)
        opened = _Opened(openings, self.store, r.commitments_root, n + 1, self.cache)
        if opened.hash(0) != r.base_checkpoint:
            raise InvalidReceipt("base-mismatch", "the trace does not start at the base checkpoint")
        chosen = list(segments) if segments is not None else self.draw(r, n)
        # The checkpoints this receipt needs are read, hashed and decoded on a second thread, in the order
        # they are used, while this one re-executes: the first challenged segment's start, the final
        # checkpoint (for the update rule), then the other segments' starts. On a machine with a core to
        # spare a receipt's reading hides behind its replay (which stays on this thread, unchanged). The
        # update rule is checked after the first segment, not before it: a receipt that breaks it then
        # costs one segment's replay, no more than one whose segment is forged. This thread reads the
        # update (a third of a checkpoint) while the first segment's start is still being read.
        first, rest = chosen[:1], chosen[1:]
        inside = [j for j in chosen if 0 <= j < n]  # one outside is refused by `_replay`, in its turn
        with opened.prefetching([*inside[:1], n, *inside[1:]]):
            update = decode_tensors(_fetch(self.store, r.update_hash, "update"))
            session = Session(spec, self.device)
            data = self.training_data(spec)
            seed = round_seed(view.anchor_block_hash, r.miner, r.task_id, r.round)
            for j in first:
                self._replay(session, data, seed, opened, j, n, r)
            _check_update(update, opened.tensors(n), opened.tensors(0))
            del update
            for j in rest:
                self._replay(session, data, seed, opened, j, n, r)

    def _replay(
        self, session: Session, data: Split, seed: bytes, opened: "_Opened", j: int, n: int, r: WorkReceipt
    ) -> None:
        if not 0 <= j < n:
            raise ValueError(f"segment {j} outside 0..{n - 1}")
        k = session.spec.checkpoint_interval
        start = opened.tensors(j)
        try:
            session.load(start)
        except ValueError as exc:
            raise InvalidReceipt("malformed-checkpoint", f"checkpoint {j}: {exc}") from None
        rule = self.rule(r)
        loss_sum = torch.zeros((), device=self.device)
        with config.replaying(rule.replay_config) if rule.exact else contextlib.nullcontext():  # type: ignore[arg-type]
            run_steps(session, data.to(self.device), seed, j * k, (j + 1) * k, loss_sum)
        got = session.live_state()  # read only, before the session's next step: no copy needed
        if rule.exact and tensors_hash(got) == opened.hash(j + 1):
            excess = None  # bit for bit the committed checkpoint: its blob need not be fetched at all
        else:
            end = opened.tensors(j + 1)
            if not _same_layout(got, end):
                raise InvalidReceipt("malformed-checkpoint", f"checkpoint {j + 1}: tensors differ from the model's")
            excess = tolerance.first_excess(got, end, start, rule.bounds)
        if excess is not None:
            mode = (
                "exact replay in the receipt's configuration"
                if rule.exact
                else f"bounds {self.device_config.device_class}/{config.parse(r.device_class).device_class}"
            )
            raise InvalidReceipt("segment-mismatch", f"segment {j}: {excess} ({mode})")
        if j == n - 1:
            loss = float(loss_sum) / k
            claimed = r.final_loss_micro / LOSS_SCALE
            if rule.exact:
                if loss_micro(loss) != r.final_loss_micro:
                    raise InvalidReceipt("loss-mismatch", f"claimed final loss {claimed:.6f}, exact replay {loss:.6f}")
            elif abs(loss - claimed) > LOSS_TOLERANCE * max(loss, 1e-3) + 1 / LOSS_SCALE:
                raise InvalidReceipt("loss-mismatch", f"claimed final loss {claimed:.6f}, re-executed {loss:.6f}")


def _same_layout(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> bool:
    """The same tensor names, each with the same shape and dtype (before any elementwise comparison,
    which would otherwise broadcast a wrong shape)."""
    return set(a) == set(b) and all(b[n].shape == t.shape and b[n].dtype == t.dtype for n, t in a.items())


def _check_update(
    update: Mapping[str, torch.Tensor], final: Mapping[str, torch.Tensor], base: Mapping[str, torch.Tensor]
) -> None:
    """The update blob must be exactly final - base over the parameters (elementwise, bit-exact)."""
    if not _same_layout(base, optim.params_of(final)):
        raise InvalidReceipt("malformed-checkpoint", "final checkpoint parameters differ from the base's")
    expected = update_tensors(dict(final), dict(base))
    if set(update) != set(expected):
        raise InvalidReceipt("update-mismatch", "update tensors are not the model's parameters")
    for name, t in expected.items():
        if update[name].shape != t.shape or not torch.equal(update[name], t):
            raise InvalidReceipt("update-mismatch", f"update of {name} is not final - base")


class _Opened:
    """Checkpoint hashes opened against the commitments root, and their blobs, fetched once each.

    The base (leaf 0) goes through `cache` when one is given: it is the same for every receipt of a round.
    """

    def __init__(
        self, openings: Openings, store: BlobStore, root: bytes, leaves: int, cache: DecodedCache | None = None
    ) -> None:
        self.openings, self.store, self.root, self.leaves, self.cache = openings, store, root, leaves, cache
        self._hashes: dict[int, bytes] = {}
        self._tensors: dict[int, dict[str, torch.Tensor]] = {}
        self._pending: dict[int, Future[dict[str, torch.Tensor]]] = {}

    def hash(self, index: int) -> bytes:
        if index not in self._hashes:
            try:
                opening = self.openings.opening(index)
            except (IndexError, KeyError, LookupError) as exc:
                raise InvalidReceipt("bad-opening", f"no opening for checkpoint {index}: {exc}") from None
            self._hashes[index] = opening.check(self.root, index, self.leaves)
        return self._hashes[index]

    def tensors(self, index: int) -> dict[str, torch.Tensor]:
        if index not in self._tensors:
            pending = self._pending.pop(index, None)
            # A prefetched blob's failure (not served, wrong hash, malformed) is raised here, where the
            # caller asks for it, so the verdict is the one the reads in order would have given.
            self._tensors[index] = pending.result() if pending is not None else self._load(index, self.hash(index))
        return self._tensors[index]

    @contextlib.contextmanager
    def prefetching(self, indices: Iterable[int]) -> Iterator[None]:
        """Load the blobs of `indices` on one background thread while the body runs; what the body did
        not ask for is cancelled (or waited for, if already being read) when it leaves, error or not."""
        todo = [i for i in dict.fromkeys(indices) if i not in self._tensors and i not in self._pending]
        if not todo:
            yield
            return
        digests: dict[int, bytes] = {}
        for i in todo:  # openings answered on the caller's thread; a bad one is raised later, in its turn
            with contextlib.suppress(InvalidReceipt):
                digests[i] = self.hash(i)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify-prefetch")
        try:
            for i, digest in digests.items():
                self._pending[i] = pool.submit(self._load, i, digest)
            yield
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            for i in todo:
                self._pending.pop(i, None)

    def _load(self, index: int, digest: bytes) -> dict[str, torch.Tensor]:
        cache = self.cache if index == 0 else None  # only the base is shared between receipts
        if cache is not None and (hit := cache.get(digest)) is not None:
            return hit
        tensors = decode_tensors(_fetch(self.store, digest, f"checkpoint {index}"))
        if cache is not None:
            cache.put(digest, tensors)
        return tensors


def _fetch(store: BlobStore, digest: bytes, what: str) -> bytes:
    """A challenged blob, hash-checked; one that is not served is the verdict `unavailable`."""
    try:
        return fetch_verified(store, digest, what)
    except InvalidReceipt as exc:
        if exc.reason == REASON_MISSING:
            raise InvalidReceipt(UNAVAILABLE, exc.detail) from None
        raise

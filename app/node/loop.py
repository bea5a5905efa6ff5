"""The node's event loop: one thread owns all node state; timers and a worker thread feed it.

Everything that touches the chain, the BFT engine or the desks runs as a callable posted to this
loop, so there are no locks in the node logic. Heavy work (training, verification, aggregation) runs
on one worker thread and posts its result back; network I/O runs on the NetThread.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class EventLoop:
    def __init__(self, workers: int = 1) -> None:
        self._queue: queue.Queue[Callable[[], None]] = queue.Queue()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pot-work")
        self._background = ThreadPoolExecutor(max_workers=2, thread_name_prefix="pot-io")
        self._low = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pot-audit", initializer=_lower_priority)
        self._fetch = ThreadPoolExecutor(max_workers=4, thread_name_prefix="pot-fetch")
        self._verify = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pot-verify")

    def post(self, fn: Callable[..., None], *args: Any) -> None:
        """Run `fn(*args)` on the loop thread (callable from any thread)."""
        self._queue.put(lambda: fn(*args))

    def call_later(self, delay_s: float, fn: Callable[..., None], *args: Any) -> None:
        """Run `fn(*args)` on the loop thread after `delay_s` (loop thread only)."""
        heapq.heappush(self._timers, (time.monotonic() + delay_s, next(self._seq), lambda: fn(*args)))

    def run_in_worker(self, job: Callable[[], T], done: Callable[[T | None, BaseException | None], None]) -> None:
        """Run heavy `job` on the worker thread; `done(result, error)` comes back on the loop thread."""
        self._submit(self._pool, job, done)

    def run_fetch(self, job: Callable[[], T], done: Callable[[T | None, BaseException | None], None]) -> None:
        """Gather what a receipt's verification needs from peers (traces, blobs) under a deadline: a peer
        that stalls holds one of these threads, never the worker, the verifier or the loop."""
        self._submit(self._fetch, job, done)

    def run_verify(self, job: Callable[[], T], done: Callable[[T | None, BaseException | None], None]) -> None:
        """Re-execute a gossiped receipt's challenged segments on the verification thread, apart from
        the worker's aggregation and fraud-proof checks, which a queue of receipts must not delay."""
        self._submit(self._verify, job, done)

    def run_low(self, job: Callable[[], T], done: Callable[[T | None, BaseException | None], None]) -> None:
        """Run background work (audits) on its own low-priority thread: it never queues behind or ahead
        of the worker's verification and aggregation, and the OS schedules it after them."""
        self._submit(self._low, job, done)

    def run_io(self, job: Callable[[], T], done: Callable[[T | None, BaseException | None], None]) -> None:
        """Run blocking network I/O (sync, fetches) off the loop; `done` comes back on the loop thread."""
        self._submit(self._background, job, done)

    def _submit(
        self, pool: ThreadPoolExecutor, job: Callable[[], T], done: Callable[[T | None, BaseException | None], None]
    ) -> None:
        def wrapped() -> None:
            try:
                result = job()
            except BaseException as exc:  # noqa: BLE001 - handed back to the loop, never lost
                self.post(done, None, exc)
            else:
                self.post(done, result, None)

        try:
            pool.submit(wrapped)
        except RuntimeError:  # shutting down
            pass

    def stop(self) -> None:
        self._stop.set()
        self._queue.put(lambda: None)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """Serve events and timers until `stop()`."""
        while not self._stop.is_set():
            timeout = 0.5
            if self._timers:
                timeout = max(0.0, min(timeout, self._timers[0][0] - time.monotonic()))
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                _, _, fn = heapq.heappop(self._timers)
                self._safely(fn)
            if item is not None:
                self._safely(item)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._background.shutdown(wait=False, cancel_futures=True)
        self._low.shutdown(wait=False, cancel_futures=True)
        self._fetch.shutdown(wait=False, cancel_futures=True)
        self._verify.shutdown(wait=False, cancel_futures=True)

    @staticmethod
    def _safely(fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:
            log.exception("node event failed")


def _lower_priority() -> None:
    """Nice this thread (Linux schedules threads as tasks; elsewhere it stays at normal priority)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass

"""A thread-safe handle on a NetHost running in its own thread with its own trio loop.

The daemon is not trio code: it submits coroutines (`submit` returns a concurrent Future) and
receives validated gossip through a plain callback, called on a dispatcher thread so a slow
callback never stalls the network loop.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio

from app.net.errors import NetError
from app.net.host import GossipMessage, NetConfig, NetHost
from app.net.protocols import Providers

log = logging.getLogger(__name__)
T = TypeVar("T")
GossipCallback = Callable[[GossipMessage], None]
_STOP = object()


class NetThread:
    """Start with `start()`, use with `submit()`/`call()`, end with `stop()`."""

    def __init__(
        self, config: NetConfig, providers: Providers | None = None, on_gossip: GossipCallback | None = None
    ) -> None:
        self._config = config
        self._providers = providers
        self._on_gossip = on_gossip
        self._jobs_send: trio.MemorySendChannel[Any] | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._inbox: queue.Queue[Any] = queue.Queue(maxsize=10_000)
        self._thread = threading.Thread(target=self._run, name="pot-net", daemon=True)
        self._dispatcher = threading.Thread(target=self._dispatch, name="pot-net-gossip", daemon=True)
        self._stop_event: trio.Event | None = None
        self.peer_id: str | None = None
        self.listen_addrs: list[str] = []

    def start(self, timeout_s: float = 30.0) -> None:
        """Start the host; return once it listens, or raise why it could not start."""
        self._dispatcher.start()
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise TimeoutError("the network host did not start in time")
        if self._failed is not None:
            if isinstance(self._failed, NetError):
                raise self._failed  # already says what went wrong and what to do
            raise RuntimeError(f"the network host failed to start: {self._failed!r}") from self._failed

    @property
    def failed(self) -> BaseException | None:
        """Why the running host stopped on its own (None while it runs, or after a clean `stop()`)."""
        return self._failed if self._ready.is_set() else None

    def submit(self, fn: Callable[[NetHost], Awaitable[T]]) -> concurrent.futures.Future[T]:
        """Run `fn(host)` on the network loop; the Future carries its result or exception."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        if self._jobs_send is None or self._token is None:
            future.set_exception(RuntimeError("the network host is not running"))
            return future
        try:
            trio.from_thread.run_sync(self._jobs_send.send_nowait, (fn, future), trio_token=self._token)
        except (trio.RunFinishedError, trio.ClosedResourceError, trio.WouldBlock) as exc:
            future.set_exception(RuntimeError(f"the network host is not accepting work: {exc!r}"))
        return future

    def call(self, fn: Callable[[NetHost], Awaitable[T]], timeout_s: float = 30.0) -> T:
        """Blocking form of `submit`."""
        return self.submit(fn).result(timeout_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._token is not None and self._stop_event is not None:
            try:
                trio.from_thread.run_sync(self._stop_event.set, trio_token=self._token)
            except trio.RunFinishedError:
                pass
        self._thread.join(timeout_s)
        self._inbox.put(_STOP)
        self._dispatcher.join(timeout_s)

    # ------------------------------------------------------------------ inside the threads

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:  # reported to start(), or logged if it dies later
            self._failed = _root_cause(exc)
            if self._ready.is_set():
                log.exception("the network host stopped with an error")
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._stop_event = trio.Event()
        send, receive = trio.open_memory_channel[Any](1000)
        async with NetHost.open(self._config, self._providers) as host:
            for kind in self._config.topics:
                host.subscribe(kind, self._forward)
            self.peer_id, self.listen_addrs = host.peer_id, host.listen_addrs
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._serve_jobs, host, receive, nursery)
                self._jobs_send = send
                self._ready.set()
                await self._stop_event.wait()
                self._jobs_send = None
                nursery.cancel_scope.cancel()

    async def _serve_jobs(self, host: NetHost, receive: trio.MemoryReceiveChannel[Any], nursery: trio.Nursery) -> None:
        async for fn, future in receive:
            nursery.start_soon(self._job, host, fn, future)

    @staticmethod
    async def _job(
        host: NetHost, fn: Callable[[NetHost], Awaitable[Any]], future: concurrent.futures.Future[Any]
    ) -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(await fn(host))
        except Exception as exc:
            future.set_exception(exc)

    async def _forward(self, message: GossipMessage) -> None:
        if self._on_gossip is None:
            return
        try:
            self._inbox.put_nowait(message)
        except queue.Full:
            log.warning("gossip callback is too slow; dropping a %s message", message.kind.value)

    def _dispatch(self) -> None:
        while True:
            item = self._inbox.get()
            if item is _STOP:
                return
            try:
                assert self._on_gossip is not None
                self._on_gossip(item)
            except Exception:
                log.exception("gossip callback failed")


def _root_cause(exc: BaseException) -> BaseException:
    """The one error inside trio's nested exception groups, so the user reads it and not 'Exceptions from
    Trio nursery (1 sub-exception)'; a group of several is kept whole."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc

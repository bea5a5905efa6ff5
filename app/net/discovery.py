"""Finding and dialing peers: the configured bootstrap list (there is no mDNS: a node is private by default).

Each round dials every known peer that is neither connected, banned, nor backing off; a failed dial
doubles that peer's wait (capped), so a dead bootstrap node is not hammered every few seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

import trio

from app.net import limits
from app.net.peers import Backoff

log = logging.getLogger(__name__)

# A dial target: (peer id, multiaddr strings). The dial function raises on failure.
Target = tuple[str, tuple[str, ...]]


class Dialer:
    def __init__(
        self,
        dial: Callable[[str, tuple[str, ...]], Awaitable[None]],
        is_connected: Callable[[str], bool],
        is_banned: Callable[[str], bool],
        targets: Callable[[], Iterable[Target]],
        backoff: Backoff,
        interval_s: float = limits.DISCOVERY_INTERVAL_S,
        dial_timeout_s: float = limits.DIAL_TIMEOUT_S,
    ) -> None:
        self._dial = dial
        self._is_connected = is_connected
        self._is_banned = is_banned
        self._targets = targets
        self.backoff = backoff
        self._interval_s = interval_s
        self._dial_timeout_s = dial_timeout_s

    async def run(self) -> None:
        while True:
            await self.dial_round()
            await trio.sleep(self._interval_s)

    async def dial_round(self) -> int:
        """Dial every eligible target concurrently; return how many connected."""
        due = [
            (peer, addrs)
            for peer, addrs in self._targets()
            if not self._is_connected(peer) and not self._is_banned(peer) and self.backoff.may_try(peer)
        ]
        connected = 0

        async def one(peer: str, addrs: tuple[str, ...]) -> None:
            nonlocal connected
            ok = False
            with trio.move_on_after(self._dial_timeout_s):
                try:
                    await self._dial(peer, addrs)
                    ok = True
                except Exception as exc:  # any dial failure only means "try later"
                    log.debug("dial %s failed: %s", peer, exc)
            if ok:
                self.backoff.succeeded(peer)
                connected += 1
            else:
                wait = self.backoff.failed(peer)
                log.info("could not reach %s; next try in %.0f s", peer, wait)

        async with trio.open_nursery() as nursery:
            for peer, addrs in due:
                nursery.start_soon(one, peer, addrs)
        return connected

"""A scripted idle source for tests: input events at chosen times on an injected clock."""

from __future__ import annotations

from collections.abc import Callable


class FakeIdleSource:
    """Idle seconds are ``clock() - last input``; `unavailable` makes it answer None like a dead probe."""

    name = "fake"

    def __init__(self, clock: Callable[[], float], last_input: float | None = None) -> None:
        self._clock = clock
        self._inputs: list[float] = [clock() if last_input is None else last_input]
        self.available = True

    def input_at(self, *times: float) -> None:
        """Schedule user input (keys, mouse) at these clock times; past or future."""
        self._inputs.extend(times)

    def touch(self) -> None:
        """User input now."""
        self._inputs.append(self._clock())

    def set_idle(self, seconds: float) -> None:
        """Pretend the last input was ``seconds`` ago, forgetting any scripted later input."""
        now = self._clock()
        self._inputs = [t for t in self._inputs if t <= now - seconds] + [now - seconds]

    def idle_seconds(self) -> float | None:
        if not self.available:
            return None
        now = self._clock()
        past = [t for t in self._inputs if t <= now]
        return now - max(past) if past else None

"""Weekly mining schedule: which hours of which days the miner may run.

Config text such as ``"mon-fri 18:00-08:00; sat,sun all-day"`` is parsed into rules; the settings field's
example ``"mon-fri 18:00-08:00, sat-sun"`` means the same (a comma and a space before a day starts a new
rule, and days with no times mean all day). A range whose end is
not after its start runs over midnight and belongs to the day it *starts* on, so ``fri 18:00-08:00`` is
Friday evening until Saturday morning (how people read a timetable, unlike BOINC's per-day wrap).
Everything works in local wall time on minute resolution; the caller passes the local ``datetime``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
_ALL_DAYS = frozenset(range(7))
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
MAX_RULES = 64
_RULE_COMMA = re.compile(r",\s+(?=[a-z])(?!all-day)")  # ", sat-sun": a new rule (times never start with a letter)


class ScheduleError(ValueError):
    """Schedule text that cannot be understood; the message says which part and why."""


@dataclass(frozen=True)
class Rule:
    """Mining allowed on ``days`` from ``start`` to ``end`` (minutes after midnight; end <= start wraps)."""

    days: frozenset[int]
    start: int
    end: int

    @property
    def all_day(self) -> bool:
        return self.start == 0 and self.end == MINUTES_PER_DAY

    def intervals(self) -> list[tuple[int, int]]:
        """Half-open [a, b) intervals in minutes since Monday 00:00, b may pass the week's end."""
        out = []
        for day in sorted(self.days):
            a = day * MINUTES_PER_DAY + self.start
            length = (self.end - self.start) % MINUTES_PER_DAY or MINUTES_PER_DAY
            out.append((a, a + length))
        return out


@dataclass(frozen=True)
class WeeklySchedule:
    """A set of rules; mining is allowed when any rule covers the moment. No rules means no limit."""

    rules: tuple[Rule, ...] = ()

    @property
    def unrestricted(self) -> bool:
        return not self.rules or self._covered() == [(0, MINUTES_PER_WEEK)]

    def allows(self, when: datetime) -> bool:
        """Whether mining may run at local time ``when``."""
        if not self.rules:
            return True
        minute = _week_minute(when)
        return any(a <= minute < b for a, b in self._covered())

    def next_change(self, when: datetime) -> datetime | None:
        """The next local time at which `allows` flips, or None when it never does."""
        if self.unrestricted:
            return None
        covered = self._covered()
        minute = _week_minute(when)
        edge_set = {edge % MINUTES_PER_WEEK for interval in covered for edge in interval}
        if covered[0][0] == 0 and covered[-1][1] == MINUTES_PER_WEEK:
            edge_set.discard(0)  # covered on both sides of Monday 00:00: only a seam, not a change
        edges = sorted(edge_set)
        ahead = [e for e in edges if e > minute] or [edges[0] + MINUTES_PER_WEEK]
        base = when.replace(second=0, microsecond=0)
        return base + timedelta(minutes=ahead[0] - minute)

    def _covered(self) -> list[tuple[int, int]]:
        """Merged intervals of one week, with over-the-week-end parts folded back to Monday."""
        raw: list[tuple[int, int]] = []
        for rule in self.rules:
            for a, b in rule.intervals():
                if b <= MINUTES_PER_WEEK:
                    raw.append((a, b))
                else:
                    raw.extend([(a, MINUTES_PER_WEEK), (0, b - MINUTES_PER_WEEK)])
        merged: list[tuple[int, int]] = []
        for a, b in sorted(raw):
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        return merged


def _week_minute(when: datetime) -> int:
    return when.weekday() * MINUTES_PER_DAY + when.hour * 60 + when.minute


def parse(text: str) -> WeeklySchedule:
    """Parse ``"mon-fri 18:00-08:00; sat,sun all-day"``; empty text or ``always`` means no limit."""
    text = text.strip().lower()
    if text in ("", "always"):
        return WeeklySchedule()
    parts = [p.strip() for chunk in text.split(";") for p in _RULE_COMMA.split(chunk) if p.strip()]
    if len(parts) > MAX_RULES:
        raise ScheduleError(f"too many schedule rules ({len(parts)}, at most {MAX_RULES})")
    rules = []
    for part in parts:
        rules.extend(_parse_rule(part))
    return WeeklySchedule(tuple(rules))


def _parse_rule(part: str) -> list[Rule]:
    tokens = part.split(None, 1)
    if _looks_like_times(tokens[0]):
        days, times = _ALL_DAYS, part
    elif len(tokens) == 2:
        days, times = _parse_days(tokens[0]), tokens[1]
    elif len(tokens) == 1 and tokens[0][:1].isalpha():
        days, times = _parse_days(tokens[0]), "all-day"  # "sat-sun": those days, all day
    else:
        raise ScheduleError(f"'{part}': expected days then times, e.g. 'mon-fri 18:00-08:00'")
    return [Rule(days, start, end) for start, end in _parse_times(times, part)]


def _looks_like_times(token: str) -> bool:
    return token == "all-day" or token[:1].isdigit()


def _parse_days(text: str) -> frozenset[int]:
    if text in ("daily", "every-day"):
        return _ALL_DAYS
    days: set[int] = set()
    for item in text.split(","):
        if "-" in item:
            first, _, last = item.partition("-")
            a, b = _day_index(first), _day_index(last)
            days.update((a + i) % 7 for i in range((b - a) % 7 + 1))
        else:
            days.add(_day_index(item))
    return frozenset(days)


def _day_index(name: str) -> int:
    """Index of a day written as its first three letters or more ("mon", "monday")."""
    name = name.strip()
    for index, full in enumerate(_FULL_DAY_NAMES):
        if len(name) >= 3 and full.startswith(name):
            return index
    raise ScheduleError(f"unknown day '{name}' (use mon, tue, wed, thu, fri, sat, sun)")


def _parse_times(text: str, part: str) -> list[tuple[int, int]]:
    ranges = []
    for item in text.replace(" ", "").split(","):
        if item == "all-day":
            ranges.append((0, MINUTES_PER_DAY))
            continue
        start_text, sep, end_text = item.partition("-")
        if not sep:
            raise ScheduleError(f"'{part}': time range '{item}' needs a start and an end, e.g. 18:00-08:00")
        start, end = _parse_clock(start_text, part), _parse_clock(end_text, part)
        if start == MINUTES_PER_DAY:
            raise ScheduleError(f"'{part}': a range cannot start at 24:00")
        if start == end:
            raise ScheduleError(f"'{part}': range '{item}' is empty; write 'all-day' for the whole day")
        ranges.append((start, end))
    return ranges


def _parse_clock(text: str, part: str) -> int:
    match = _TIME.match(text)
    if not match:
        raise ScheduleError(f"'{part}': '{text}' is not a time like 08:00")
    hour, minute = int(match.group(1)), int(match.group(2))
    if minute > 59 or hour > 24 or (hour == 24 and minute):
        raise ScheduleError(f"'{part}': '{text}' is not a time of day (00:00 to 24:00)")
    return hour * 60 + minute


def format_schedule(schedule: WeeklySchedule) -> str:
    """The canonical config text of a schedule; ``parse(format_schedule(s)) == s``."""
    if not schedule.rules:
        return "always"
    return "; ".join(f"{_format_days(r.days)} {_format_range(r)}" for r in schedule.rules)


def _format_range(rule: Rule) -> str:
    if rule.all_day:
        return "all-day"
    return f"{_clock(rule.start)}-{_clock(rule.end)}"


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _format_days(days: frozenset[int]) -> str:
    if days == _ALL_DAYS:
        return "daily"
    runs: list[list[int]] = []
    for day in sorted(days):
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    if len(runs) > 1 and runs[0][0] == 0 and runs[-1][-1] == 6:
        runs[0] = runs.pop() + runs[0]
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{DAY_NAMES[run[0]]}-{DAY_NAMES[run[-1]]}")
        else:
            parts.extend(DAY_NAMES[d] for d in run)
    return ",".join(parts)

"""Weekly schedule: parsing, ranges over midnight and over the week's end, next change, round trip."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, strategies as st

from app.miner.schedule import Rule, ScheduleError, WeeklySchedule, format_schedule, parse

# 2024-01-01 was a Monday.
MON, TUE, FRI, SAT, SUN = 1, 2, 5, 6, 7


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 1, day, hour, minute)


NIGHTS_AND_WEEKENDS = "mon-fri 18:00-08:00; sat,sun all-day"


@pytest.mark.parametrize(
    ("text", "when", "allowed"),
    [
        (NIGHTS_AND_WEEKENDS, at(MON, 12), False),
        (NIGHTS_AND_WEEKENDS, at(MON, 18), True),
        (NIGHTS_AND_WEEKENDS, at(MON, 17, 59), False),
        (NIGHTS_AND_WEEKENDS, at(TUE, 7, 59), True),  # Monday's night runs into Tuesday
        (NIGHTS_AND_WEEKENDS, at(TUE, 8), False),
        (NIGHTS_AND_WEEKENDS, at(MON, 3), False),  # Sunday's all-day ends at midnight
        (NIGHTS_AND_WEEKENDS, at(SAT, 12), True),
        (NIGHTS_AND_WEEKENDS, at(SUN, 23, 59), True),
        ("sun 22:00-02:00", at(MON, 1), True),  # over the week's end
        ("sun 22:00-02:00", at(MON, 2), False),
        ("sun 22:00-02:00", at(SUN, 21, 59), False),
        ("daily 09:00-17:00", at(FRI, 9), True),
        ("09:00-17:00", at(FRI, 17), False),  # no days means every day; end is exclusive
        ("sat-mon 10:00-11:00", at(SUN, 10, 30), True),  # day range across the week's end
        ("mon 08:00-10:00,12:00-24:00", at(MON, 23, 59), True),
        ("mon 08:00-10:00,12:00-24:00", at(MON, 11), False),
        ("", at(MON, 11), True),
        ("always", at(MON, 11), True),
    ],
)
def test_allows(text: str, when: datetime, allowed: bool) -> None:
    assert parse(text).allows(when) is allowed


def test_a_night_belongs_to_the_day_it_starts_on() -> None:
    # Monday 03:00 is Sunday's night; Saturday 03:00 is Friday's night.
    assert parse("mon-fri 18:00-08:00").allows(at(MON, 3)) is False
    assert parse("mon-fri 18:00-08:00").allows(at(SAT, 3)) is True


@pytest.mark.parametrize(
    ("text", "when", "expected"),
    [
        (NIGHTS_AND_WEEKENDS, at(MON, 12), at(MON, 18)),
        (NIGHTS_AND_WEEKENDS, at(MON, 12, 30), at(MON, 18)),
        (NIGHTS_AND_WEEKENDS, at(MON, 19), at(TUE, 8)),
        (NIGHTS_AND_WEEKENDS, at(FRI, 19), datetime(2024, 1, 8, 0)),  # weekend ends Monday 00:00
        ("sun 22:00-02:00", at(MON, 5), at(SUN, 22)),
        ("sun 22:00-02:00", at(SUN, 23), datetime(2024, 1, 8, 2)),
        ("daily all-day", at(MON, 5), None),
        ("", at(MON, 5), None),
    ],
)
def test_next_change(text: str, when: datetime, expected: datetime | None) -> None:
    assert parse(text).next_change(when) == expected


def test_next_change_keeps_seconds_out() -> None:
    assert parse("mon 18:00-19:00").next_change(datetime(2024, 1, 1, 17, 59, 30, 5)) == at(MON, 18)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        (NIGHTS_AND_WEEKENDS, "mon-fri 18:00-08:00; sat,sun all-day"),
        ("Monday-Friday 18:00-08:00", "mon-fri 18:00-08:00"),
        ("sat-mon 10:00-11:00", "sat-mon 10:00-11:00"),
        ("mon,wed,thu 10:00-11:00", "mon,wed,thu 10:00-11:00"),
        ("09:00-17:00", "daily 09:00-17:00"),
        ("  ", "always"),
    ],
)
def test_format_is_canonical(text: str, canonical: str) -> None:
    assert format_schedule(parse(text)) == canonical


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("funday", "unknown day 'funday'"),  # days alone mean all day ("sat-sun"); an unknown one is refused
        ("funday 10:00-11:00", "unknown day 'funday'"),
        ("mon 10:00", "needs a start and an end"),
        ("mon 10-11", "not a time like 08:00"),
        ("mon 25:00-26:00", "not a time of day"),
        ("mon 10:60-11:00", "not a time of day"),
        ("mon 10:00-10:00", "write 'all-day'"),
        ("mon 24:00-02:00", "cannot start at 24:00"),
        (";".join(["mon all-day"] * 65), "too many schedule rules"),
    ],
)
def test_parse_errors_say_why(text: str, fragment: str) -> None:
    with pytest.raises(ScheduleError, match=fragment):
        parse(text)


rules = st.builds(
    Rule,
    days=st.frozensets(st.integers(0, 6), min_size=1),
    start=st.integers(0, 24 * 60 - 1),
    end=st.integers(1, 24 * 60),
).filter(lambda r: r.start != r.end)


@given(st.lists(rules, min_size=1, max_size=4), st.integers(0, 7 * 24 * 60 - 1))
def test_round_trip_and_next_change_flips(rule_list: list[Rule], minute: int) -> None:
    schedule = WeeklySchedule(tuple(rule_list))
    assert parse(format_schedule(schedule)) == schedule
    when = datetime(2024, 1, 1 + minute // 1440, (minute % 1440) // 60, minute % 60)
    change = schedule.next_change(when)
    if change is None:
        assert schedule.allows(when)
        return
    assert change > when
    assert schedule.allows(change) != schedule.allows(when)
    # Nothing flips before the announced change.
    for k in (1, 2, 3):
        assert schedule.allows(when + (change - when) * k / 4) == schedule.allows(when)


def test_the_settings_fields_example_is_accepted() -> None:
    """Issue 16 item 4: the field's own placeholder, "mon-fri 18:00-08:00, sat-sun", was refused."""
    from app.miner.schedule import format_schedule

    assert format_schedule(parse("mon-fri 18:00-08:00, sat-sun")) == "mon-fri 18:00-08:00; sat,sun all-day"
    assert parse("mon-fri 18:00-08:00, sat-sun") == parse("mon-fri 18:00-08:00; sat,sun all-day")
    assert format_schedule(parse("sat,sun")) == "sat,sun all-day"
    assert parse("mon 08:00-12:00,13:00-17:00").allows(datetime(2024, 1, 1, 13, 30))  # a time list stays one rule

"""Read models spell times one way, whatever time zone a datetime carries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from projections.base import format_time


def _reference(value: datetime) -> str:
    """The spelling as first defined: UTC, microseconds, a Z."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 21, 2, 21, 59, 718517, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),  # no microseconds
        datetime(999, 1, 1, 0, 0, 0, 1, tzinfo=UTC),  # a year of three digits
        datetime(2026, 5, 5, 23, 5, 5, 5, tzinfo=timezone(timedelta(hours=-3))),
        datetime(2026, 5, 5, 1, 0, 0, tzinfo=timezone(timedelta(hours=3, minutes=30))),
        datetime.fromisoformat("2026-11-21T05:08:13.267989+00:00"),
    ],
)
def test_times_are_spelled_in_utc_with_microseconds(value: datetime) -> None:
    assert format_time(value) == _reference(value)


def test_the_remembered_time_is_only_reused_for_that_same_time() -> None:
    first = datetime(2026, 1, 1, tzinfo=UTC)
    second = datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert format_time(first) == format_time(first) == "2026-01-01T00:00:00.000000Z"
    assert format_time(second) == "2026-01-01T00:00:01.000000Z"
    assert format_time(first) == "2026-01-01T00:00:00.000000Z"

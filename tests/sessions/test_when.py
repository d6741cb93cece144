"""WHEN and DURATION as users type them, and the bounds they become."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from freezegun import freeze_time
from hypothesis import given
from hypothesis import strategies as st

from mofa.errors import InvalidTimeSpec, MofaError
from mofa.timestamps import precise_index_text
from mofa.when import bound_text, older_than_text, parse_duration, parse_when, when_text

UTC = UTC
NOW = "2024-03-10T12:00:00Z"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2024-03-01T12:00:00Z", "2024-03-01T12:00:00.000000000Z"),
        ("2024-03-01t12:00:00z", "2024-03-01T12:00:00.000000000Z"),
        ("2024-03-01 12:00:00Z", "2024-03-01T12:00:00.000000000Z"),
        ("2024-03-01T12:00:00", "2024-03-01T12:00:00.000000000Z"),  # no offset: UTC
        ("2024-03-01T14:00:00+02:00", "2024-03-01T12:00:00.000000000Z"),
        ("2024-03-01T00:30:00-01:00", "2024-03-01T01:30:00.000000000Z"),
        ("2024-03-01T23:30:00-01:00", "2024-03-02T00:30:00.000000000Z"),  # crosses midnight
        ("2024-03-01T12:00:00.5Z", "2024-03-01T12:00:00.500000000Z"),
        ("2024-03-01T12:00:00.123456789Z", "2024-03-01T12:00:00.123456789Z"),
        ("2024-03-01T12:00:00.000000000+00:00", "2024-03-01T12:00:00.000000000Z"),
        ("2024-03-01", "2024-03-01T00:00:00.000000000Z"),  # a date: its 00:00 UTC
        ("2024-02-29", "2024-02-29T00:00:00.000000000Z"),
        ("  2024-03-01  ", "2024-03-01T00:00:00.000000000Z"),
    ],
)
@freeze_time(NOW)
def test_when_absolute(text, expected):
    assert when_text(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("30s", "2024-03-10T11:59:30.000000000Z"),
        ("90m", "2024-03-10T10:30:00.000000000Z"),
        ("12h", "2024-03-10T00:00:00.000000000Z"),
        ("7d", "2024-03-03T12:00:00.000000000Z"),
        ("2w", "2024-02-25T12:00:00.000000000Z"),
        ("1d12h", "2024-03-09T00:00:00.000000000Z"),
        ("0d", "2024-03-10T12:00:00.000000000Z"),
        ("10d", "2024-02-29T12:00:00.000000000Z"),  # leap day
    ],
)
@freeze_time(NOW)
def test_when_durations_count_back_from_now(text, expected):
    assert when_text(text) == expected
    assert older_than_text(text) == expected


def test_now_can_be_given():
    now = datetime(2024, 1, 1, 1, 0, tzinfo=UTC)
    assert when_text("2h", now) == "2023-12-31T23:00:00.000000000Z"
    assert (
        older_than_text("1h", now.astimezone(timezone(timedelta(hours=5))))
        == "2024-01-01T00:00:00.000000000Z"
    )


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "expected an RFC 3339 time"),
        ("   ", "expected an RFC 3339 time"),
        ("yesterday", "expected an RFC 3339 time"),
        ("7", "expected an RFC 3339 time"),
        ("d", "expected an RFC 3339 time"),
        ("7D", "expected an RFC 3339 time"),  # M would be ambiguous (months?): units are lower case
        ("-7d", "expected an RFC 3339 time"),
        ("7 d", "expected an RFC 3339 time"),
        ("1.5h", "expected an RFC 3339 time"),
        ("7y", "expected an RFC 3339 time"),
        ("2024-W10-1", "expected an RFC 3339 time"),
        ("20240301", "expected an RFC 3339 time"),
        ("2024-3-1", "expected an RFC 3339 time"),
        ("2024-03-01T12:00", "expected an RFC 3339 time"),
        ("2024-03-01T12:00:00.1234567890Z", "expected an RFC 3339 time"),  # 10 digits
        ("2024-03-01T12:00:00+0200", "expected an RFC 3339 time"),
        ("２０２４-03-01", "expected an RFC 3339 time"),  # digits of another script
        ("2024-02-30", "no such date or time"),
        ("2023-02-29", "no such date or time"),
        ("2024-13-01T00:00:00Z", "no such date or time"),
        ("2024-01-01T24:00:00Z", "no such date or time"),
        ("2024-01-01T12:00:00+24:00", "no such date or time"),
        ("0001-01-01T00:00:00+01:00", "no such date or time"),  # before the year 1 in UTC
        ("99999999999w", "too long"),
        ("110000w", "reaches before the year 1"),
    ],
)
@freeze_time(NOW)
def test_bad_when(text, reason):
    with pytest.raises(InvalidTimeSpec) as caught:
        when_text(text)
    assert reason in str(caught.value)
    assert repr(text) in str(caught.value)  # the message names what the user typed
    assert isinstance(caught.value, MofaError)


@pytest.mark.parametrize(
    "text",
    ["2024-03-01", "2024-03-01T00:00:00Z", "", "7", "h", "-1d", "1.5d", "1w-2d", "7days", "P7D"],
)
def test_older_than_takes_durations_only(text):
    with pytest.raises(InvalidTimeSpec, match="invalid duration .*expected a duration such as"):
        older_than_text(text)


def test_not_text_is_refused():
    with pytest.raises(InvalidTimeSpec):
        parse_when(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidTimeSpec):
        parse_duration(7)  # type: ignore[arg-type]


def test_bounds_use_the_index_form():
    moment = datetime(2024, 3, 1, 12, 0, 5, 250000, tzinfo=UTC)
    assert bound_text(moment) == "2024-03-01T12:00:05.250000000Z"
    assert bound_text(moment) == precise_index_text("2024-03-01T12:00:05.25Z")


@freeze_time(NOW)
def test_a_bound_compares_with_stored_created_at_as_time():
    stored = [
        "2024-03-02T23:59:59.999999999Z",
        "2024-03-03T12:00:00.000000000Z",
        "2024-03-09T08:00:00.000000000Z",
    ]
    since = when_text("7d")
    assert [value for value in stored if value >= since] == stored[1:]


@given(st.integers(min_value=0, max_value=10**5), st.sampled_from(["s", "m", "h", "d", "w"]))
def test_duration_round_trip(number, unit):
    seconds = number * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
    assert parse_duration(f"{number}{unit}") == timedelta(seconds=seconds)


@given(
    st.datetimes(
        min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ),
    st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59),
    st.integers(min_value=0, max_value=9),
    st.sampled_from(["T", "t", " "]),
)
def test_rfc3339_round_trip(moment, offset_minutes, digits, separator):
    """Any moment written in RFC 3339, in any offset with 0 to 9 digits, reads back as itself
    (to the digits written)."""
    offset = timedelta(minutes=offset_minutes)
    local = moment.astimezone(timezone(offset))
    fraction = f"{local.microsecond:06d}000"[:digits]
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    text = (
        local.strftime(f"%Y-%m-%d{separator}%H:%M:%S")
        + (f".{fraction}" if digits else "")
        + (f"{sign}{hours:02d}:{minutes:02d}" if offset_minutes or digits % 2 else "Z")
    )
    parsed = parse_when(text)
    kept = int(fraction.ljust(6, "0")[:6]) if digits else 0
    assert parsed == moment.replace(microsecond=kept)
    assert parsed.tzinfo is not None and parsed.utcoffset() == timedelta(0)


def test_bad_input_is_a_usage_error_for_the_cli():
    from mofa.cli.errors import status_for

    assert status_for(InvalidTimeSpec("invalid duration 'x'")) == 2

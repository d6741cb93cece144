from datetime import UTC, datetime

import pytest

from mofa.timestamps import clock_text, index_text, listing_text, normalize, parse_timestamp

UTC = UTC


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2024-02-28T10:30:00Z", datetime(2024, 2, 28, 10, 30, tzinfo=UTC)),
        ("2024-02-28T10:30:00z", datetime(2024, 2, 28, 10, 30, tzinfo=UTC)),
        ("2024-02-28T10:30:05.123+00:00", datetime(2024, 2, 28, 10, 30, 5, 123000, tzinfo=UTC)),
        ("2024-02-28T12:30:00+02:00", datetime(2024, 2, 28, 10, 30, tzinfo=UTC)),
        ("2024-02-28T05:30:00-05:00", datetime(2024, 2, 28, 10, 30, tzinfo=UTC)),
        ("2024-02-28T10:30:00", datetime(2024, 2, 28, 10, 30, tzinfo=UTC)),
        ("2024-02-28 10:30:00", datetime(2024, 2, 28, 10, 30, tzinfo=UTC)),
        ("2024-02-28T10:30:00.123456789Z", datetime(2024, 2, 28, 10, 30, 0, 123456, tzinfo=UTC)),
        ("2024-02-29T23:59:59.999999+00:00", datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)),
    ],
)
def test_parse_rfc3339(text, expected):
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        1709116200,
        3.5,
        [],
        {},
        "",
        "yesterday",
        "2024-02-28",
        "2024-13-01T00:00:00Z",
        "2024-W09-3T10:00:00",
        "x" * 500,
    ],
)
def test_not_timestamps(value):
    assert parse_timestamp(value) is None


def test_shown_forms_are_utc():
    moment = parse_timestamp("2024-02-28T12:30:05+02:00")
    assert index_text(moment) == "2024-02-28T10:30:05Z"
    assert listing_text(index_text(moment)) == "2024-02-28 10:30:05"
    assert clock_text(moment) == "10:30:05"
    assert normalize("2024-02-28T12:30:05.9+02:00") == "2024-02-28T10:30:05Z"
    assert normalize(17) == 17

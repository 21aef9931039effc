"""``build_patient_record`` over Patient shapes real EHRs send: partial birth dates, deceased[x]."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from clinical.record import build_patient_record

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def _record(**patient: Any) -> Any:
    return build_patient_record([{"resourceType": "Patient", "id": "p", **patient}], now=NOW)


@pytest.mark.parametrize(
    ("birth", "expected", "age"),
    [
        ("1950", date(1950, 1, 1), 76),  # R4B keeps year-only dates as str: once an AttributeError
        ("1950-07", date(1950, 7, 1), 76),
        ("1950-12-31", date(1950, 12, 31), 75),
        (None, None, None),
    ],
)
def test_partial_birth_dates_read_as_their_first_day(
    birth: str | None, expected: date | None, age: int
) -> None:
    record = _record(**({"birthDate": birth} if birth else {}))
    assert record.birth_date == expected
    assert record.age_years() == age


@pytest.mark.parametrize(
    ("fields", "deceased", "on"),
    [
        (
            {"deceasedDateTime": "2016-12-10T02:39:21+00:00"},
            True,
            datetime(2016, 12, 10, 2, 39, 21, tzinfo=UTC),
        ),
        ({"deceasedDateTime": "2016"}, True, datetime(2016, 1, 1, tzinfo=UTC)),
        ({"deceasedBoolean": True}, True, None),
        ({"deceasedBoolean": False}, False, None),
        ({}, False, None),
    ],
)
def test_deceased_is_read_from_either_choice(
    fields: dict[str, Any], deceased: bool, on: datetime | None
) -> None:
    record = _record(birthDate="1940-02-03", **fields)
    assert record.deceased is deceased
    assert record.deceased_on == on

"""The shape of patient data eligibility reads, as structural protocols.

``knowledge`` imports nothing of ours above it, so it cannot name ``clinical.patient_profile``; the
profile built there satisfies these protocols structurally (checked by mypy where the two meet, in
``cds_services.services.trial_matching``). ``lists_complete`` says whether absence means "not there"
(a FHIR problem and medication list) or only "not mentioned" (a free-text description).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol


class CodeLike(Protocol):
    @property
    def system(self) -> str | None: ...

    @property
    def code(self) -> str | None: ...


class FactLike(Protocol):
    """A condition, medication or note finding. ``since`` = onset / start of a medication."""

    @property
    def text(self) -> str: ...

    @property
    def codes(self) -> Sequence[CodeLike]: ...

    @property
    def source_id(self) -> str | None: ...

    @property
    def negated(self) -> bool: ...

    @property
    def family(self) -> bool: ...

    @property
    def historical(self) -> bool: ...

    @property
    def uncertain(self) -> bool: ...

    @property
    def since(self) -> datetime | None: ...


class LabLike(Protocol):
    @property
    def text(self) -> str: ...

    @property
    def codes(self) -> Sequence[CodeLike]: ...

    @property
    def value(self) -> float | None: ...

    @property
    def unit(self) -> str | None: ...

    @property
    def when(self) -> datetime | None: ...

    @property
    def source_id(self) -> str | None: ...


class ProfileLike(Protocol):
    @property
    def age_years(self) -> float | None: ...

    @property
    def sex(self) -> str | None: ...

    @property
    def pregnant(self) -> bool | None: ...

    @property
    def pregnancy_source(self) -> str | None: ...

    @property
    def as_of(self) -> datetime: ...

    @property
    def lists_complete(self) -> bool: ...

    @property
    def conditions(self) -> Sequence[FactLike]: ...

    @property
    def medications(self) -> Sequence[FactLike]: ...

    @property
    def labs(self) -> Sequence[LabLike]: ...

    @property
    def findings(self) -> Sequence[FactLike]: ...

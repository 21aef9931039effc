"""What the sandbox CDS client reads from services: discovery entries and cards (CDS Hooks 2.0).

The client side parses leniently where the spec lets a client ignore things (unknown fields are kept
out, an invalid card is dropped with a note rather than breaking the chart), and strictly where a
wrong value would make the EHR do the wrong thing (action types, link types).

Spec sections: §Discovery (service entries), §CDS Service Response (cards, suggestions, actions,
links, overrideReasons), §Feedback.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ServiceDefinition(_Lenient):
    """One entry of ``GET {discovery}`` (§Discovery)."""

    id: str = Field(min_length=1)
    hook: str = Field(min_length=1)
    title: str | None = None
    description: str = ""
    prefetch: dict[str, str] = Field(default_factory=dict)


class Discovery(_Lenient):
    services: list[ServiceDefinition] = Field(default_factory=list)


class Coding(_Lenient):
    system: str | None = None
    code: str = ""
    display: str | None = None


class Source(_Lenient):
    label: str = ""
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None


class Indicator(StrEnum):
    info = "info"
    warning = "warning"
    critical = "critical"


class Action(_Lenient):
    """§Action: ``create``/``update`` carry a resource; ``delete`` names ``resourceId``."""

    type: Literal["create", "update", "delete"]
    description: str = ""
    resource: dict[str, Any] | None = None
    resourceId: list[str] = Field(default_factory=list)

    @field_validator("resourceId", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        # 2.0 defines a single relative reference; some services send a list. Accept both.
        if value is None:
            return []
        return [value] if isinstance(value, str) else value


class Suggestion(_Lenient):
    label: str
    uuid: str | None = None  # without one, feedback cannot name the accepted suggestion
    isRecommended: bool | None = None
    actions: list[Action] = Field(default_factory=list)


class Link(_Lenient):
    label: str
    url: str
    type: Literal["absolute", "smart"] = "absolute"
    appContext: str | None = None


class Card(_Lenient):
    """§Card. A card without a ``uuid`` cannot receive feedback; the client still shows it."""

    uuid: str | None = None
    summary: str = Field(min_length=1)
    detail: str | None = None
    indicator: Indicator = Indicator.info
    source: Source = Field(default_factory=Source)
    suggestions: list[Suggestion] = Field(default_factory=list)
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[Coding] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)


class CdsResponse(_Lenient):
    cards: list[dict[str, Any]] = Field(default_factory=list)
    systemActions: list[dict[str, Any]] = Field(default_factory=list)


class ServiceResult(BaseModel):
    """The outcome of one service call, as the CDS panel shows it."""

    service_id: str
    service_url: str
    title: str
    cards: list[Card] = Field(default_factory=list)
    error: str | None = None
    invalid_cards: int = 0
    elapsed_ms: float = 0.0

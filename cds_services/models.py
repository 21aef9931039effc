"""CDS Hooks 2.0 wire models (pydantic v2): the hook request, cards and the response, feedback.

Contract for every service module: build :class:`Card` objects (with :class:`Source`, optional
:class:`Suggestion` / :class:`Action` / :class:`Link` / :class:`OverrideReason`) and return them from
the handler; the edge wraps them in a :class:`CdsResponse`. Cross-field rules of the specification are
``model_validator(mode="after")`` checks, so an invalid card fails where it is built, not in the EHR.

Spec: https://cds-hooks.hl7.org/2.0/ — sections cited per model. Hook contexts:
https://cds-hooks.hl7.org/hooks/ (patient-view 1.0, order-select 1.0, order-sign 1.1).
Unknown JSON members are kept (``extra="allow"``) on requests, per §Extensions; response models
forbid unknown members so a typo in a service cannot reach the EHR.
"""

from __future__ import annotations

import re
import uuid as uuid_mod
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cds_services.hook_contexts import (
    CONTEXT_MODELS,
    HookContext,
    OrderSelectContext,
    OrderSignContext,
    PatientViewContext,
)

__all__ = [
    "CONTEXT_MODELS",
    "Action",
    "ActionType",
    "Card",
    "CdsResponse",
    "Coding",
    "Feedback",
    "FeedbackItem",
    "FeedbackOutcome",
    "FhirAuthorization",
    "HookContext",
    "HookRequest",
    "Indicator",
    "Link",
    "LinkType",
    "OrderSelectContext",
    "OrderSignContext",
    "OverrideReason",
    "PatientViewContext",
    "SelectionBehavior",
    "Source",
    "Suggestion",
    "SuggestionRef",
]

SUMMARY_MAX = 140  # §Card Attributes: "summary ... SHALL be less than 140 characters"
_HTTP_URL = re.compile(r"^https?://[^\s/]+", re.IGNORECASE)


class _Response(BaseModel):
    """Base of what we send: unknown members refused; ``None`` members dropped on output."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)


class _Request(BaseModel):
    """Base of what we receive: extensions and unknown members tolerated (§Extensions)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


# --- §Hook request -------------------------------------------------------------------------------


class FhirAuthorization(_Request):
    """§Passing the Access Token to the CDS Service: an OAuth 2.0 bearer token for ``fhirServer``."""

    access_token: str = Field(min_length=1)
    token_type: Literal["Bearer"]
    expires_in: int = Field(ge=0)
    scope: str
    subject: str
    patient: str | None = None


class HookRequest(_Request):
    """§HTTP Request: the body of ``POST {baseUrl}/cds-services/{service.id}``.

    ``context`` is kept as the raw object; :meth:`typed_context` parses it with the hook's context
    model (validated here already for the hooks in :data:`CONTEXT_MODELS`, so a request that reaches a
    service has a well-formed context). ``prefetch`` values may be ``null`` (§Prefetch: "no data").
    """

    hook: str = Field(min_length=1, max_length=200)
    hookInstance: str = Field(min_length=1, max_length=200)
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any | None] | None = None

    @field_validator("fhirServer")
    @classmethod
    def _fhir_server_is_url(cls, value: str | None) -> str | None:
        if value is not None and not _HTTP_URL.match(value):
            raise ValueError("fhirServer must be an absolute http(s) URL")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _spec_rules(self) -> HookRequest:
        # §HTTP Request: "If fhirAuthorization is provided, this field [fhirServer] is REQUIRED."
        if self.fhirAuthorization is not None and not self.fhirServer:
            raise ValueError("fhirServer is required when fhirAuthorization is given")
        model = CONTEXT_MODELS.get(self.hook)
        if model is not None:
            model.model_validate(self.context)
        return self

    def typed_context(self) -> HookContext:
        """The context parsed by the hook's model (generic :class:`HookContext` for other hooks)."""
        return CONTEXT_MODELS.get(self.hook, HookContext).model_validate(self.context)

    @property
    def patient_id(self) -> str | None:
        value = self.context.get("patientId")
        return value if isinstance(value, str) else None


# --- §CDS Service Response -----------------------------------------------------------------------


class Indicator(StrEnum):
    """§Card Attributes ``indicator``: urgency/importance of the card."""

    info = "info"
    warning = "warning"
    critical = "critical"


class SelectionBehavior(StrEnum):
    """§Card Attributes ``selectionBehavior``: how the client lets the user pick suggestions."""

    at_most_one = "at-most-one"
    any = "any"


class ActionType(StrEnum):
    """§Action ``type``."""

    create = "create"
    update = "update"
    delete = "delete"


class LinkType(StrEnum):
    """§Link ``type``: a plain web page or a SMART app to launch."""

    absolute = "absolute"
    smart = "smart"


class Coding(_Response):
    """§Coding: a code from a code system (``display`` shown to the user where given)."""

    code: str = Field(min_length=1)
    system: str | None = None
    display: str | None = None


class OverrideReason(Coding):
    """§Card Attributes ``overrideReasons``: a Coding the user may pick when dismissing the card.

    The client shows ``display`` as the choice, so it is required here.
    """

    display: str = Field(min_length=1)


class Source(_Response):
    """§Source: who stands behind the card (label required; url, icon and topic optional)."""

    label: str = Field(min_length=1)
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None

    @field_validator("url", "icon")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not _HTTP_URL.match(value):
            raise ValueError("source url and icon must be absolute http(s) URLs")
        return value


class Action(_Response):
    """§Action: a FHIR change the client may apply (``create``/``update`` carry ``resource``;
    ``delete`` carries ``resourceId``, e.g. ``"MedicationRequest/123"``)."""

    type: ActionType
    description: str = Field(min_length=1)
    resource: dict[str, Any] | None = None
    resourceId: str | None = None

    @model_validator(mode="after")
    def _target(self) -> Action:
        if self.type in (ActionType.create, ActionType.update):
            if not self.resource or "resourceType" not in self.resource:
                raise ValueError(f"a {self.type.value} action needs a FHIR resource with resourceType")
        elif not self.resourceId and not self.resource:
            raise ValueError("a delete action needs resourceId")
        return self


class Suggestion(_Response):
    """§Suggestion: a labelled set of actions; ``uuid`` lets feedback say which one was taken."""

    label: str = Field(min_length=1)
    uuid: str | None = None
    isRecommended: bool | None = None
    actions: list[Action] | None = None


class Link(_Response):
    """§Link: ``absolute`` web page or ``smart`` app launch; ``appContext`` only for smart links."""

    label: str = Field(min_length=1)
    url: str
    type: LinkType
    appContext: str | None = None

    @field_validator("url")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not _HTTP_URL.match(value):
            raise ValueError("link url must be an absolute http(s) URL")
        return value

    @model_validator(mode="after")
    def _app_context_for_smart(self) -> Link:
        if self.appContext is not None and self.type is not LinkType.smart:
            raise ValueError("appContext is only allowed on smart links")
        return self


class Card(_Response):
    """§Card Attributes: one piece of decision support shown to the user.

    Rules enforced: ``summary`` < 140 characters; ``selectionBehavior`` REQUIRED when ``suggestions``
    are present; suggestion uuids unique within the card. ``uuid`` defaults to a fresh UUID so
    feedback (§Feedback) can always refer back to the card.
    """

    uuid: str = Field(default_factory=lambda: str(uuid_mod.uuid4()))
    summary: str = Field(min_length=1)
    detail: str | None = None
    indicator: Indicator
    source: Source
    suggestions: list[Suggestion] | None = None
    selectionBehavior: SelectionBehavior | None = None
    overrideReasons: list[OverrideReason] | None = None
    links: list[Link] | None = None
    extension: dict[str, Any] | None = None

    @field_validator("summary")
    @classmethod
    def _short_summary(cls, value: str) -> str:
        if len(value) >= SUMMARY_MAX:
            raise ValueError(f"summary must be shorter than {SUMMARY_MAX} characters")
        return value

    @model_validator(mode="after")
    def _selection_rules(self) -> Card:
        if self.suggestions and self.selectionBehavior is None:
            raise ValueError("selectionBehavior is required when suggestions are present")
        ids = [s.uuid for s in self.suggestions or [] if s.uuid]
        if len(ids) != len(set(ids)):
            raise ValueError("suggestion uuids must be unique within a card")
        return self


class CdsResponse(_Response):
    """§CDS Service Response: ``cards`` (REQUIRED, may be empty) and optional ``systemActions``."""

    cards: list[Card] = Field(default_factory=list)
    systemActions: list[Action] | None = None


# --- §Feedback -----------------------------------------------------------------------------------


class FeedbackOutcome(StrEnum):
    accepted = "accepted"
    overridden = "overridden"


class SuggestionRef(_Request):
    """§Suggestion accepted: ``{"id": <suggestion uuid>}``."""

    id: str = Field(min_length=1, max_length=200)


class OverrideReasonFeedback(_Request):
    """§Overridden guidance: the chosen override Coding and/or a free-text comment."""

    reason: dict[str, Any] | None = None
    userComment: str | None = Field(default=None, max_length=4000)


class FeedbackItem(_Request):
    """One entry of ``feedback``: the card uuid, accepted or overridden, and when."""

    card: str = Field(min_length=1, max_length=200)
    outcome: FeedbackOutcome
    acceptedSuggestions: list[SuggestionRef] | None = None
    overrideReason: OverrideReasonFeedback | None = None
    outcomeTimestamp: str = Field(min_length=1, max_length=64)

    @model_validator(mode="after")
    def _outcome_rules(self) -> FeedbackItem:
        if self.outcome is FeedbackOutcome.accepted and self.overrideReason is not None:
            raise ValueError("an accepted card carries no overrideReason")
        if self.outcome is FeedbackOutcome.overridden and self.acceptedSuggestions:
            raise ValueError("an overridden card carries no acceptedSuggestions")
        return self


class Feedback(_Request):
    """§Feedback: body of ``POST {baseUrl}/cds-services/{service.id}/feedback``."""

    feedback: list[FeedbackItem] = Field(min_length=1, max_length=100)

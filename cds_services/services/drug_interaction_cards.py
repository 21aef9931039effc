"""Render an :class:`~knowledge.drugs.interactions.InteractionFinding` as a CDS Hooks card.

CDS Hooks 2.0 §Card Attributes: ``summary`` (< 140 characters, names both drugs), ``detail`` (GitHub
markdown: the risk, why this patient, what to do, the evidence), ``indicator``, ``source`` (label, url,
topic), ``suggestions`` with FHIR actions the EHR can apply (delete the draft by ``resourceId``, create
a MedicationRequest or ServiceRequest) and ``selectionBehavior``, coded ``overrideReasons``, and a SMART
``link`` into the app's evidence view with ``appContext``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cds_services.models import (
    Action,
    ActionType,
    Card,
    Coding,
    Indicator,
    Link,
    LinkType,
    OverrideReason,
    SelectionBehavior,
    Source,
    Suggestion,
)
from knowledge.drugs.context_rules import MedicationLike, SuggestionSpec
from knowledge.drugs.interactions import InteractionFinding, medication_names
from knowledge.drugs.kb import InteractionKB

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
TOPIC_SYSTEM = "https://evidence-cds.org/CodeSystem/drug-interaction"
OVERRIDE_SYSTEM = "https://evidence-cds.org/CodeSystem/ddi-override-reason"
EXTENSION_KEY = "org.evidence-cds.drug-interaction"
SUMMARY_LIMIT = 139

OVERRIDE_REASONS = (
    ("benefit-outweighs-risk", "Benefit outweighs the risk for this patient"),
    ("will-monitor", "Will monitor and adjust doses"),
    ("already-tolerated", "Patient already tolerates this combination"),
    ("not-taking", "Patient no longer takes the other drug"),
    ("no-alternative", "No suitable alternative"),
)


@dataclass(frozen=True)
class Citation:
    """What the card cites: a guideline passage from the current release, else the KB source."""

    label: str
    url: str | None
    quote: str | None = None
    release_id: str | None = None


def render_card(
    finding: InteractionFinding,
    kb: InteractionKB,
    citation: Citation,
    *,
    patient_id: str,
    public_base_url: str,
    names: dict[str, str],
) -> Card:
    """One card for one finding (``finding.indicator`` must be set). ``names``: RxCUI → name."""
    assert finding.indicator is not None
    entry = finding.entry
    draft_names = _names(finding.draft_ingredients, names)
    partner_names = _names(finding.partner_ingredients, names)
    risk = entry.risk or "interaction"
    summary = _summary(draft_names, partner_names, risk, finding)
    return Card(
        summary=summary,
        detail=_detail(finding, kb, citation, draft_names, partner_names),
        indicator=Indicator(finding.indicator),
        source=Source(
            label=citation.label[:200],
            url=citation.url,
            topic=Coding(code=entry.id, system=TOPIC_SYSTEM, display=entry.topic or entry.label),
        ),
        suggestions=_suggestions(finding, patient_id) or None,
        selectionBehavior=SelectionBehavior.any if finding.indicator != "info" else None,
        overrideReasons=[
            OverrideReason(code=c, system=OVERRIDE_SYSTEM, display=d) for c, d in OVERRIDE_REASONS
        ]
        if finding.indicator != "info"
        else None,
        links=[_smart_link(finding, public_base_url)],
        extension={
            EXTENSION_KEY: {
                "entry": entry.id,
                "severity": entry.severity.value,
                "sources": sorted({entry.source, *(e.source for e in finding.also_listed_in)}),
                "rule": finding.rule_id,
                "tolerated": finding.tolerated,
                "drafts": [m.source_id for m in finding.drafts],
                "partners": [m.source_id for m in finding.partners],
                "matchedByText": any(
                    getattr(m, "matched_by_text", False) for m in finding.drafts + finding.partners
                ),
                "release": citation.release_id,
            }
        },
    )


def _names(rxcuis: list[str], names: dict[str, str]) -> list[str]:
    return [names.get(r, r) for r in rxcuis]


def _summary(draft: list[str], partner: list[str], risk: str, finding: InteractionFinding) -> str:
    text = f"{_join(draft).capitalize()} + {_join(partner)}: risk of {risk}"
    if finding.tolerated:
        text += " (already taken together)"
    if len(text) > SUMMARY_LIMIT:
        text = f"{draft[0].capitalize()} + {partner[0]}: risk of {risk}"
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1] + "…"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _detail(
    finding: InteractionFinding, kb: InteractionKB, citation: Citation, draft: list[str], partner: list[str]
) -> str:
    entry = finding.entry
    lines = [f"**Risk:** {entry.risk.capitalize() + '. ' if entry.risk else ''}{kb.mechanism(entry)}", ""]
    why = [f.text for f in finding.facts if f.text]
    if finding.tolerated:
        why.insert(
            0,
            f"{_join(draft).capitalize()} and {_join(partner)} are already taken together; "
            "this order continues them.",
        )
    if not why:
        why.append(
            f"New order for {medication_names(finding.drafts)} while on {medication_names(finding.partners)}."
        )
    by_name = [m for m in finding.drafts + finding.partners if getattr(m, "matched_by_text", False)]
    if by_name:
        why.append(f"Recognised by name, not by code: {medication_names(by_name)} (check the drug).")
    lines.append("**Why this patient:**")
    lines.extend(f"- {w}" for w in why)
    lines += ["", f"**What to do:** {kb.management(entry)}", ""]
    if citation.quote:
        lines.append(f"**Evidence:** “{citation.quote}” — {citation.label}")
    listed = [
        kb.sources[s].label
        for s in dict.fromkeys([entry.source, *(e.source for e in finding.also_listed_in)])
        if s in kb.sources
    ]
    lines.append(f"**Listed in:** {'; '.join(listed)}.")
    return "\n".join(lines)


def _suggestions(finding: InteractionFinding, patient_id: str) -> list[Suggestion]:
    if finding.indicator == "info":
        return []
    specs = finding.suggestions or [SuggestionSpec(kind="cancel_draft", label="Cancel the {draft} order")]
    out: list[Suggestion] = []
    for n, spec in enumerate(specs, start=1):
        actions = _actions(spec, finding.drafts, patient_id)
        if not actions:
            continue
        label = spec.label.replace("{draft}", medication_names(finding.drafts) or "new")
        out.append(
            Suggestion(
                label=label[:200],
                uuid=f"{finding.entry.id}-{n}-{spec.kind}",
                isRecommended=spec.kind == "cancel_draft" and finding.indicator == "critical",
                actions=actions,
            )
        )
    return out


def _actions(spec: SuggestionSpec, drafts: list[MedicationLike], patient_id: str) -> list[Action]:
    subject = {"reference": f"Patient/{patient_id}"}
    cancel = [
        Action(
            type=ActionType.delete,
            description=f"Remove the draft order for {medication_names([d])}",
            resourceId=f"MedicationRequest/{d.source_id}",
        )
        for d in drafts
        if d.source_id and d.is_draft
    ]
    if spec.kind == "cancel_draft":
        return cancel
    if spec.kind in {"substitute", "add_medication"} and spec.rxnorm:
        create = Action(
            type=ActionType.create,
            description=spec.label.replace("{draft}", medication_names(drafts)),
            resource={
                "resourceType": "MedicationRequest",
                "status": "draft",
                "intent": "order",
                "subject": subject,
                "medicationCodeableConcept": {
                    "coding": [{"system": RXNORM, "code": spec.rxnorm, "display": spec.display}],
                    "text": spec.display,
                },
            },
        )
        return [*cancel, create] if spec.kind == "substitute" else [create]
    if spec.kind == "order_lab" and spec.loinc:
        return [
            Action(
                type=ActionType.create,
                description=f"Order {display}",
                resource={
                    "resourceType": "ServiceRequest",
                    "status": "draft",
                    "intent": "order",
                    "subject": subject,
                    "code": {
                        "coding": [{"system": LOINC, "code": code, "display": display}],
                        "text": display,
                    },
                },
            )
            for code, display in [(spec.loinc, spec.display or spec.loinc), *spec.also]
        ]
    return []


def _smart_link(finding: InteractionFinding, public_base_url: str) -> Link:
    context: dict[str, Any] = {
        "view": "drug-interaction",
        "entry": finding.entry.id,
        "drugs": finding.draft_ingredients + finding.partner_ingredients,
    }
    return Link(
        label="Open the interaction evidence",
        url=f"{public_base_url.rstrip('/')}/app/launch",
        type=LinkType.smart,
        appContext=json.dumps(context, separators=(",", ":")),
    )

"""The HL7 PDDI CDS guide's example resources (FHIR XML, STU3-era, relative dates) as R4 JSON.

The guide ships its test patients as XML files in ``input/examples/`` whose dates are CQL expressions
(``Today() - 10 days``) held in ``cqf-expression`` extensions. :func:`load_example` parses one file
into R4 JSON: repeated elements become arrays where R4 says so, primitives get their JSON types, the
relative dates are evaluated against a given ``today``, and the STU3 shapes R4 changed are mapped
(``category`` is a single CodeableConcept on MedicationStatement / Dispense / Administration).
:data:`SCENARIOS` lists the guide's numbered test scenarios (``pagecontent/testdata.md``) with the
context order and the prefetch resources they combine.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

NS = "{http://hl7.org/fhir}"
CQF = "http://hl7.org/fhir/StructureDefinition/cqf-expression"
# Elements that are arrays (0..*) in R4 for the resources the examples use.
ARRAYS = {
    "coding",
    "extension",
    "dosageInstruction",
    "doseAndRate",
    "referenceRange",
    "component",
    "evidence",
    "name",
    "given",
    "identifier",
    "interpretation",
    "note",
    "reasonCode",
    "contained",
    "entry",
    "code@evidence",
    "category",
    "appliesTo",
}
SINGLE_CATEGORY = {"MedicationStatement", "MedicationDispense", "MedicationAdministration"}
NUMBERS = {"value", "frequency", "period", "numberOfRepeatsAllowed", "duration"}
BOOLEANS = {"asNeededBoolean"}
_TODAY = re.compile(r"Today\(\)\s*(?:-\s*(\d+)\s*days?)?")


def load_example(path: Path, today: date) -> dict[str, Any]:
    """One example XML file → R4 JSON dict with dates relative to ``today`` resolved."""
    root = ET.parse(path).getroot()  # noqa: S314 - the guide's own files, read from local disk
    rtype = root.tag.replace(NS, "")
    body = _element(root, rtype, rtype, today)
    assert isinstance(body, dict)
    return {"resourceType": rtype, **body}


def _element(el: ET.Element, name: str, rtype: str, today: date, parent: str = "") -> Any:
    children = list(el)
    expr = _relative(el, today)
    if expr is not None:
        return expr
    if not children:
        raw = el.get("value")
        if raw is None:
            return None
        if name in BOOLEANS:
            return raw == "true"
        if name in NUMBERS:
            try:
                return int(raw) if raw.isdigit() else float(raw)
            except ValueError:
                return raw
        return raw
    out: dict[str, Any] = {}
    for child in children:
        tag = child.tag.replace(NS, "")
        if tag == "extension" and child.get("url") == CQF:
            continue
        value = (
            {"url": child.get("url"), **_element(child, tag, rtype, today, name)}
            if tag == "extension"
            else _element(child, tag, rtype, today, name)
        )
        if value is None:
            continue
        if _is_array(tag, name, rtype, parent):
            out.setdefault(tag, []).append(value)
        else:
            out[tag] = value
    return out


def _is_array(tag: str, parent: str, rtype: str, grandparent: str) -> bool:
    if tag == "category":
        return parent != rtype or rtype not in SINGLE_CATEGORY
    if tag == "code":
        return parent == "evidence"
    return tag in ARRAYS


def _relative(el: ET.Element, today: date) -> Any:
    """Evaluate a ``cqf-expression`` child: a dateTime, or a Period ``{start, end}``."""
    for ext in el.findall(f"{NS}extension"):
        if ext.get("url") != CQF:
            continue
        expression = ext.find(f"{NS}valueExpression/{NS}expression")
        text = expression.get("value", "") if expression is not None else ""
        days = [today - timedelta(days=int(m.group(1) or 0)) for m in _TODAY.finditer(text)]
        if not days:
            return None
        if "Period" in text:
            return {"start": days[0].isoformat(), "end": days[-1].isoformat()}
        return days[0].isoformat()
    return None


@dataclass(frozen=True)
class Scenario:
    """One of the guide's numbered scenarios: the ordered drug (context) and the prefetch resources."""

    name: str
    context: str
    prefetch: tuple[str, ...]
    indicator: str  # what the guide's decision table gives (the most urgent of its cards)
    facts: tuple[str, ...]  # facts whose explanation the card must carry


# pagecontent/testdata.md, "Scenario 1..5" (warfarin + NSAID) and "Scenario 1..4" (digoxin + cyclosporine).
SCENARIOS = (
    Scenario(
        "warfarin-nsaid-1-topical-diclofenac",
        "medicationrequest-warfarin-nsaid-topicaldiclofenac-context",
        ("medicationrequest-warfarin-nsaid-warfarin-prefetch", "patient-warfarin-nsaid-under65-prefetch"),
        "info",
        ("topical_nsaid",),
    ),
    Scenario(
        "warfarin-nsaid-2-ppi",
        "medicationrequest-warfarin-nsaid-nsaid-context",
        (
            "medicationrequest-warfarin-nsaid-warfarin-prefetch",
            "medicationrequest-warfarin-nsaid-ppi-prefetch",
            "patient-warfarin-nsaid-under65-prefetch",
        ),
        "warning",
        ("on_ppi",),
    ),
    Scenario(
        "warfarin-nsaid-3-over65-corticosteroid",
        "medicationrequest-warfarin-nsaid-nsaid-context",
        (
            "medicationdispense-warfarin-nsaid-warfarin-prefetch",
            "patient-warfarin-nsaid-over65-prefetch",
            "medicationrequest-warfarin-nsaid-corticosteroid-prefetch",
        ),
        "critical",
        ("on_ppi", "age_over_65", "on_corticosteroid"),
    ),
    Scenario(
        "warfarin-nsaid-4-hx-ugib-other-nsaid",
        "medicationrequest-warfarin-nsaid-nsaid-context",
        (
            "medicationadministration-warfarin-nsaid-warfarin-prefetch",
            "patient-warfarin-nsaid-under65-prefetch",
            "condition-warfarin-nsaid-Hx-UGIB-prefetch",
            "medicationrequest-warfarin-nsaid-nsaid-prefetch",
        ),
        "critical",
        ("on_ppi", "hx_gi_bleed", "other_nsaid"),
    ),
    Scenario(
        "warfarin-nsaid-5-aldosterone-antagonist",
        "medicationrequest-warfarin-nsaid-nsaid-context",
        (
            "medicationstatement-warfarin-nsaid-warfarin-prefetch",
            "patient-warfarin-nsaid-under65-prefetch",
            "medicationrequest-warfarin-nsaid-aldosteroneantagonist-prefetch",
        ),
        "critical",
        ("on_ppi", "on_aldosterone_antagonist"),
    ),
    Scenario(
        "warfarin-nsaid-misoprostol",
        "medicationrequest-warfarin-nsaid-nsaid-context",
        (
            "medicationrequest-warfarin-nsaid-warfarin-prefetch",
            "medicationrequest-warfarin-nsaid-misoprostol-prefetch",
            "patient-warfarin-nsaid-over65-prefetch",
        ),
        "warning",
        ("on_ppi", "age_over_65"),
    ),
    Scenario(
        "digoxin-cyclosporine-1-new-cyclosporine-high-level",
        "medicationrequest-digoxin-cyclosporine-cyclosporine-context",
        (
            "medicationdispense-digoxin-cyclosporine-digoxin-prefetch",
            "observation-digoxin-cyclosporine-digoxin",
            "medicationdispense-digoxin-cyclosporine-furosemide-prefetch",
            "patient-digoxin-cyclosporine-context",
        ),
        "critical",
        ("new_cyclosporine", "normal_digoxin_level", "on_diuretic"),
    ),
    Scenario(
        "digoxin-cyclosporine-2-continuation-no-level",
        "medicationrequest-digoxin-cyclosporine-cyclosporine-context",
        (
            "medicationdispense-digoxin-cyclosporine-digoxin-prefetch",
            "medicationrequest-digoxin-cyclosporine-cyclosporine-prefetch",
            "observation-digoxin-cyclosporine-potassium",
            "patient-digoxin-cyclosporine-context",
        ),
        "warning",
        ("continuation", "normal_digoxin_level", "normal_potassium"),
    ),
    Scenario(
        "digoxin-cyclosporine-3-new-digoxin",
        "medicationrequest-digoxin-cyclosporine-digoxin-context",
        (
            "medicationrequest-digoxin-cyclosporine-cyclosporine-prefetch",
            "observation-digoxin-cyclosporine-renal",
            "patient-digoxin-cyclosporine-context",
        ),
        "warning",
        ("normal_digoxin_level",),
    ),
    Scenario(
        "digoxin-cyclosporine-4-continuation-high-level",
        "medicationrequest-digoxin-cyclosporine-digoxin-context",
        (
            "medicationrequest-digoxin-cyclosporine-cyclosporine-prefetch",
            "medicationdispense-digoxin-cyclosporine-digoxin-prefetch",
            "observation-digoxin-cyclosporine-digoxin",
            "patient-digoxin-cyclosporine-context",
        ),
        "warning",
        ("continuation", "normal_digoxin_level"),
    ),
)


def scenario_resources(
    examples: Path, scenario: Scenario, today: date
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the context order as a draft MedicationRequest, the prefetch resources) for a scenario."""
    order = load_example(examples / f"{scenario.context}.xml", today)
    order["status"] = "draft"  # CDS Hooks order-sign: the order being signed is a draft
    prefetch = [load_example(examples / f"{name}.xml", today) for name in scenario.prefetch]
    return order, prefetch

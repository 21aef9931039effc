"""Reference service ``record-summary`` (patient-view): active medications overdue for monitoring.

When a chart opens, flag each active medication whose recommended monitoring lab has no result in the
recommended interval (e.g. warfarin without an INR in 12 weeks, metformin without a renal function
test in a year). One card per gap, citing the recommendation, with a suggestion to order the lab
(a draft ``ServiceRequest``). No gap → no card: the service never greets or fills space.

The rules are a deliberately small, conservative table (:data:`RULES`): each names the ingredients it
covers, the LOINC codes that satisfy it, the interval and the source. Medications are matched by
ingredient name in the medication's text or coding display, so any RxNorm SCD/SBD or free-text order
for the ingredient matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from cds_services.models import (
    Action,
    ActionType,
    Card,
    Coding,
    Indicator,
    SelectionBehavior,
    Source,
    Suggestion,
)
from cds_services.registry import CdsService, ServiceInput, register
from clinical.record import Medication, PatientRecord

LOINC = "http://loinc.org"


@dataclass(frozen=True)
class Lab:
    name: str
    loinc: tuple[str, ...]  # any of these satisfies the requirement; the first is the one suggested


@dataclass(frozen=True)
class MonitoringRule:
    ingredients: tuple[str, ...]
    lab: Lab
    max_age_days: int
    source_label: str
    source_url: str
    why: str
    indicator: Indicator = Indicator.info


INR = Lab("INR", ("6301-6", "34714-6", "46418-0"))
POTASSIUM = Lab("potassium", ("2823-3", "6298-4"))
CREATININE = Lab(
    "creatinine or eGFR", ("2160-0", "38483-4", "33914-3", "48642-3", "48643-1", "62238-1", "98979-8")
)
LITHIUM = Lab("lithium level", ("14334-7",))
TSH = Lab("TSH", ("3016-3", "11580-8"))

_RAAS = (
    "lisinopril",
    "enalapril",
    "ramipril",
    "benazepril",
    "captopril",
    "quinapril",
    "losartan",
    "valsartan",
    "irbesartan",
    "olmesartan",
    "candesartan",
    "telmisartan",
    "spironolactone",
    "eplerenone",
)
_HTN_GUIDELINE = "https://doi.org/10.1161/HYP.0000000000000065"
_DIGOXIN_LABEL = "https://dailymed.nlm.nih.gov/dailymed/search.cfm?labeltype=all&query=digoxin"

RULES: tuple[MonitoringRule, ...] = (
    MonitoringRule(
        ("warfarin",),
        INR,
        84,
        "CHEST 2012 antithrombotic guideline: INR every ≤12 weeks",
        "https://doi.org/10.1378/chest.11-2295",
        "Stable warfarin therapy still needs an INR at least every 12 weeks.",
        Indicator.warning,
    ),
    MonitoringRule(
        _RAAS,
        POTASSIUM,
        365,
        "ACC/AHA 2017 high blood pressure guideline",
        _HTN_GUIDELINE,
        "ACE inhibitors, ARBs and aldosterone antagonists can raise potassium.",
    ),
    MonitoringRule(
        _RAAS,
        CREATININE,
        365,
        "ACC/AHA 2017 high blood pressure guideline",
        _HTN_GUIDELINE,
        "Renal function is monitored on renin-angiotensin-aldosterone blockade.",
    ),
    MonitoringRule(
        ("digoxin",),
        POTASSIUM,
        365,
        "Digoxin prescribing information (monitoring)",
        _DIGOXIN_LABEL,
        "Hypokalaemia increases digoxin toxicity.",
    ),
    MonitoringRule(
        ("digoxin",),
        CREATININE,
        365,
        "Digoxin prescribing information (monitoring)",
        _DIGOXIN_LABEL,
        "Digoxin is renally cleared; reduced renal function raises its level.",
    ),
    MonitoringRule(
        ("metformin",),
        CREATININE,
        365,
        "FDA 2016 safety communication: metformin and eGFR",
        "https://www.fda.gov/drugs/drug-safety-and-availability/fda-drug-safety-communication-fda-revises-warnings-regarding-use-diabetes-medicine-metformin-certain",
        "The FDA asks for an eGFR at least yearly on metformin (contraindicated below 30).",
    ),
    MonitoringRule(
        ("lithium",),
        LITHIUM,
        183,
        "NICE CG185 bipolar disorder: lithium monitoring",
        "https://www.nice.org.uk/guidance/cg185",
        "Lithium levels are checked at least every 6 months once stable.",
    ),
    MonitoringRule(
        ("levothyroxine",),
        TSH,
        365,
        "ATA 2014 hypothyroidism guideline",
        "https://doi.org/10.1089/thy.2014.0028",
        "TSH is checked at least yearly on stable levothyroxine replacement.",
    ),
)

_WORDS = {name: re.compile(rf"\b{re.escape(name)}\b", re.IGNORECASE) for r in RULES for name in r.ingredients}


def _mentions(med: Medication, ingredient: str) -> bool:
    texts = [med.text, *(c.display or "" for c in med.codes)]
    return any(_WORDS[ingredient].search(t) for t in texts if t)


def _last_result(record: PatientRecord, lab: Lab) -> datetime | None:
    dates = [o.effective for code in lab.loinc for o in record.observations_for(code) if o.effective]
    return max(dates) if dates else None


@dataclass(frozen=True)
class Gap:
    """A monitoring lab missing or overdue for one or more active medications."""

    ingredients: tuple[str, ...]
    rule: MonitoringRule  # the strictest matching rule (shortest interval): it is the one cited
    last: datetime | None


def monitoring_gaps(record: PatientRecord) -> list[Gap]:
    """One gap per lab: every active ingredient that needs it, when its last result is too old.

    Merging by lab keeps the chart quiet (one potassium card for digoxin and lisinopril, not two).
    """
    needs: dict[str, tuple[list[str], MonitoringRule]] = {}
    for med in record.active_medications:
        for rule in RULES:
            ingredient = next((i for i in rule.ingredients if _mentions(med, i)), None)
            if ingredient is None:
                continue
            names, strictest = needs.get(rule.lab.name, ([], rule))
            if ingredient not in names:
                names.append(ingredient)
            if rule.max_age_days < strictest.max_age_days:
                strictest = rule
            needs[rule.lab.name] = (names, strictest)
    gaps = []
    for names, rule in needs.values():
        last = _last_result(record, rule.lab)
        if last is None or record.as_of - last > timedelta(days=rule.max_age_days):
            gaps.append(Gap(tuple(names), rule, last))
    return gaps


def _interval(days: int) -> str:
    return f"{round(days / 7)} weeks" if days < 120 else f"{round(days / 30.4)} months"


def _card(patient_id: str, gap: Gap) -> Card:
    rule, last = gap.rule, gap.last
    when = f"last result {last.date().isoformat()}" if last else "no result on record"
    drugs = ", ".join(gap.ingredients)
    order = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "code": {"coding": [{"system": LOINC, "code": rule.lab.loinc[0]}], "text": rule.lab.name},
        "subject": {"reference": f"Patient/{patient_id}"},
    }
    return Card(
        summary=f"{drugs.capitalize()}: no {rule.lab.name} in the last {_interval(rule.max_age_days)}"[:139],
        detail=f"{rule.why} Recommended interval: {_interval(rule.max_age_days)}; {when}.",
        indicator=rule.indicator,
        source=Source(
            label=rule.source_label,
            url=rule.source_url,
            topic=Coding(
                code="monitoring", system="https://evidence-cds.org/topics", display="Medication monitoring"
            ),
        ),
        suggestions=[
            Suggestion(
                label=f"Order {rule.lab.name}",
                isRecommended=True,
                actions=[
                    Action(type=ActionType.create, description=f"Order {rule.lab.name}", resource=order)
                ],
            )
        ],
        selectionBehavior=SelectionBehavior.at_most_one,
    )


def handle(inp: ServiceInput) -> list[Card]:
    record = inp.record
    if record.deceased:  # no monitoring to order for a patient who has died
        inp.note("patient is deceased: no monitoring advice")
        return []
    patient_id = inp.patient_id or record.patient_id
    return [_card(patient_id, gap) for gap in monitoring_gaps(record)]


SERVICE = register(
    CdsService(
        id="record-summary",
        hook="patient-view",
        title="Medication monitoring gaps",
        description="Flags active medications whose recommended monitoring lab is missing or overdue.",
        prefetch={
            "patient": "Patient/{{context.patientId}}",
            "medications": "MedicationRequest?patient={{context.patientId}}&status=active",
            "labs": "Observation?patient={{context.patientId}}&category=laboratory",
        },
        optional_prefetch=frozenset({"patient"}),
        handler=handle,
        time_budget_ms=200,
    )
)

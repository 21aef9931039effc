"""Small lexicons behind structured criteria: lab analytes (LOINC, canonical unit, conversions),
medications (ingredient names grouped in the classes trials name), and conditions (synonyms, codes).

Deliberately small and explicit: a criterion whose concept is not here stays textual and is judged
against the patient's findings (or "unknown"), never guessed. Units: the canonical unit is the one the
thresholds are compared in; a conversion is a ``(factor, offset)`` pair, canonical = value·factor+offset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache


@dataclass(frozen=True)
class Analyte:
    key: str
    display: str
    loinc: tuple[str, ...]
    unit: str
    synonyms: tuple[str, ...]
    # unit text (lowercase, spaces removed) → (factor, offset) into the canonical unit
    conversions: dict[str, tuple[float, float]] = field(default_factory=dict)


ANALYTES: tuple[Analyte, ...] = (
    Analyte(
        "hba1c",
        "HbA1c",
        ("4548-4", "17856-6", "4549-2", "59261-8"),
        "%",
        (
            "hba1c",
            "hb a1c",
            "a1c",
            "hemoglobin a1c",
            "haemoglobin a1c",
            "glycated hemoglobin",
            "glycosylated hemoglobin",
        ),
        {"mmol/mol": (0.09148, 2.152)},  # IFCC → NGSP (NGSP = 0.09148·IFCC + 2.152)
    ),
    Analyte(
        "egfr",
        "eGFR",
        ("33914-3", "48642-3", "48643-1", "62238-1", "98979-8", "69405-9", "50044-7", "88293-6", "88294-4"),
        "mL/min/1.73m2",
        ("egfr", "estimated glomerular filtration rate", "glomerular filtration rate", "gfr"),
    ),
    Analyte(
        "creatinine",
        "Serum creatinine",
        ("2160-0", "38483-4"),
        "mg/dL",
        ("serum creatinine", "creatinine"),
        {"umol/l": (1 / 88.42, 0.0), "µmol/l": (1 / 88.42, 0.0), "μmol/l": (1 / 88.42, 0.0)},
    ),
    Analyte("potassium", "Potassium", ("2823-3", "6298-4"), "mmol/L", ("potassium",), {"meq/l": (1.0, 0.0)}),
    Analyte(
        "hemoglobin",
        "Hemoglobin",
        ("718-7", "20509-6"),
        "g/dL",
        ("hemoglobin", "haemoglobin", "hgb"),
        {"g/l": (0.1, 0.0)},
    ),
    Analyte(
        "platelets",
        "Platelets",
        ("777-3", "26515-7"),
        "10*3/uL",
        ("platelet count", "platelets"),
        {"/mm3": (0.001, 0.0), "/ul": (0.001, 0.0), "x10^9/l": (1.0, 0.0), "10^9/l": (1.0, 0.0)},
    ),
    Analyte("bmi", "BMI", ("39156-5",), "kg/m2", ("body mass index", "bmi")),
    Analyte(
        "glucose",
        "Glucose",
        ("2345-7", "2339-0", "1558-6"),
        "mg/dL",
        ("fasting plasma glucose", "fasting glucose", "plasma glucose", "glucose", "fpg"),
        {"mmol/l": (18.016, 0.0)},
    ),
    Analyte("alt", "ALT", ("1742-6", "1743-4"), "U/L", ("alanine aminotransferase", "alt")),
    Analyte("ast", "AST", ("1920-8",), "U/L", ("aspartate aminotransferase", "ast")),
    Analyte("inr", "INR", ("6301-6", "34714-6"), "{INR}", ("inr", "international normalized ratio")),
    Analyte(
        "ldl",
        "LDL cholesterol",
        ("18262-6", "13457-7", "2089-1"),
        "mg/dL",
        ("ldl cholesterol", "ldl-c", "ldl"),
        {"mmol/l": (38.67, 0.0)},
    ),
    Analyte(
        "sbp",
        "Systolic blood pressure",
        ("8480-6",),
        "mm[Hg]",
        ("systolic blood pressure", "systolic bp", "sbp"),
    ),
)

# Medication names as trials use them → ingredient names that count (lowercase substrings of the
# patient's medication text or RxNorm display).
MEDICATIONS: dict[str, tuple[str, ...]] = {
    "metformin": ("metformin",),
    "insulin": ("insulin",),
    "sulfonylurea": ("glipizide", "glyburide", "glibenclamide", "glimepiride", "gliclazide"),
    "glp-1 receptor agonist": (
        "semaglutide",
        "liraglutide",
        "dulaglutide",
        "exenatide",
        "lixisenatide",
        "tirzepatide",
    ),
    "sglt2 inhibitor": ("empagliflozin", "dapagliflozin", "canagliflozin", "ertugliflozin"),
    "dpp-4 inhibitor": ("sitagliptin", "saxagliptin", "linagliptin", "alogliptin"),
    "thiazolidinedione": ("pioglitazone", "rosiglitazone"),
    "warfarin": ("warfarin",),
    "anticoagulant": (
        "warfarin",
        "apixaban",
        "rivaroxaban",
        "dabigatran",
        "edoxaban",
        "heparin",
        "enoxaparin",
    ),
    "digoxin": ("digoxin",),
    "cyclosporine": ("cyclosporine", "ciclosporin"),
    "systemic corticosteroid": (
        "prednisone",
        "prednisolone",
        "methylprednisolone",
        "dexamethasone",
        "hydrocortisone",
    ),
    "statin": ("atorvastatin", "simvastatin", "rosuvastatin", "pravastatin", "lovastatin"),
    "nsaid": ("ibuprofen", "naproxen", "diclofenac", "celecoxib", "meloxicam", "ketorolac"),
    "proton pump inhibitor": ("omeprazole", "esomeprazole", "pantoprazole", "lansoprazole", "rabeprazole"),
}
MEDICATION_SYNONYMS: dict[str, str] = {
    "glp-1": "glp-1 receptor agonist",
    "glp1": "glp-1 receptor agonist",
    "sglt2": "sglt2 inhibitor",
    "sglt-2": "sglt2 inhibitor",
    "dpp-4": "dpp-4 inhibitor",
    "dpp4": "dpp-4 inhibitor",
    "sulfonylureas": "sulfonylurea",
    "glitazone": "thiazolidinedione",
    "anticoagulation": "anticoagulant",
    "anticoagulants": "anticoagulant",
    "corticosteroids": "systemic corticosteroid",
    "steroids": "systemic corticosteroid",
    "statins": "statin",
    "nsaids": "nsaid",
    "ppi": "proton pump inhibitor",
}


@dataclass(frozen=True)
class ConditionConcept:
    key: str
    display: str
    synonyms: tuple[str, ...]
    icd10_prefixes: tuple[str, ...] = ()
    snomed: tuple[str, ...] = ()


CONDITIONS: tuple[ConditionConcept, ...] = (
    ConditionConcept(
        "t2dm",
        "Type 2 diabetes mellitus",
        (
            "type 2 diabetes",
            "type ii diabetes",
            "diabetes mellitus type 2",
            "t2dm",
            "type 2 dm",
            "non-insulin-dependent diabetes",
        ),
        ("E11",),
        ("44054006",),
    ),
    ConditionConcept(
        "t1dm",
        "Type 1 diabetes mellitus",
        (
            "type 1 diabetes",
            "type i diabetes",
            "diabetes mellitus type 1",
            "t1dm",
            "insulin-dependent diabetes",
        ),
        ("E10",),
        ("46635009",),
    ),
    ConditionConcept("af", "Atrial fibrillation", ("atrial fibrillation", "afib"), ("I48",), ("49436004",)),
    ConditionConcept(
        "hypertension",
        "Hypertension",
        ("hypertension", "high blood pressure"),
        ("I10",),
        ("38341003", "59621000"),
    ),
    ConditionConcept(
        "ckd",
        "Chronic kidney disease",
        ("chronic kidney disease", "ckd"),
        ("N18",),
        ("709044004", "433144002"),
    ),
    ConditionConcept(
        "heart_failure", "Heart failure", ("heart failure", "cardiac failure"), ("I50",), ("84114007",)
    ),
    ConditionConcept("obesity", "Obesity", ("obesity", "obese"), ("E66",), ("414916001",)),
    ConditionConcept(
        "kidney_transplant",
        "Kidney transplant",
        ("kidney transplant", "renal transplant"),
        ("Z94.0",),
        ("161665007",),
    ),
    ConditionConcept(
        "dka",
        "Diabetic ketoacidosis",
        ("diabetic ketoacidosis", "ketoacidosis"),
        ("E11.1", "E10.1"),
        ("420422005",),
    ),
    ConditionConcept(
        "pancreatitis", "Pancreatitis", ("pancreatitis",), ("K85", "K86.0", "K86.1"), ("75694006",)
    ),
    ConditionConcept("cancer", "Active malignancy", ("malignancy", "cancer"), ("C",), ()),
    ConditionConcept(
        "mi",
        "Myocardial infarction",
        ("myocardial infarction", "heart attack"),
        ("I21", "I22"),
        ("22298006",),
    ),
    ConditionConcept(
        "stroke", "Stroke", ("stroke", "cerebrovascular accident"), ("I63", "I64"), ("230690007",)
    ),
    ConditionConcept(
        "anemia", "Anemia", ("anemia", "anaemia"), ("D50", "D51", "D52", "D53", "D63", "D64"), ("271737000",)
    ),
)


@lru_cache(maxsize=8192)
def normalise(text: str) -> str:
    """Lowercase, unify dashes and spaces; used on both criterion and patient text before matching."""
    text = text.lower().replace("\u2013", "-").replace("\u2014", "-").replace("\u2212", "-")
    return re.sub(r"\s+", " ", text)


@lru_cache(maxsize=4096)
def _word(term: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![a-z0-9]){re.escape(term)}(?![a-z0-9])")


def contains_term(haystack: str, term: str) -> bool:
    """Whole-word containment (``ast`` must not match "fast"; ``a1c`` must match "HbA1c" via its own term)."""
    return _word(term).search(haystack) is not None


def _earliest(text: str, names: dict[str, object]) -> tuple[object, int] | None:
    """The value of the name found earliest; at the same position the longest name wins
    ("hemoglobin a1c" is HbA1c, not hemoglobin)."""
    best: tuple[object, int] | None = None
    best_key = (len(text) + 1, 0)
    for name, value in names.items():
        m = _word(name).search(text)
        if m and (m.start(), -len(name)) < best_key:
            best, best_key = (value, m.start()), (m.start(), -len(name))
    return best


_ANALYTE_NAMES: dict[str, object] = {syn: a for a in reversed(ANALYTES) for syn in a.synonyms}
_CONDITION_NAMES: dict[str, object] = {syn: c for c in reversed(CONDITIONS) for syn in c.synonyms}
_MEDICATION_NAMES: dict[str, object] = {
    **{m: m for members in MEDICATIONS.values() for m in members},
    **{k: k for k in MEDICATIONS},
    **MEDICATION_SYNONYMS,
}


@lru_cache(maxsize=8192)
def find_analyte(text: str) -> tuple[Analyte, int] | None:
    """The analyte named earliest in ``text`` (normalised) and its position, or ``None``."""
    found = _earliest(text, _ANALYTE_NAMES)
    return (found[0], found[1]) if found and isinstance(found[0], Analyte) else None


@lru_cache(maxsize=8192)
def find_medication(text: str) -> tuple[str, int] | None:
    """The medication (class or ingredient) named earliest in ``text`` and its position."""
    found = _earliest(text, _MEDICATION_NAMES)
    return (str(found[0]), found[1]) if found else None


def medication_members(name: str) -> tuple[str, ...]:
    """Ingredient names a medication term covers (a class → its members; an ingredient → itself)."""
    return MEDICATIONS.get(name, (name,))


@lru_cache(maxsize=8192)
def find_condition(text: str) -> tuple[ConditionConcept, int] | None:
    """The condition concept named earliest in ``text`` (normalised) and its position, or ``None``."""
    found = _earliest(text, _CONDITION_NAMES)
    return (found[0], found[1]) if found and isinstance(found[0], ConditionConcept) else None


def condition_by_key(key: str) -> ConditionConcept | None:
    return next((c for c in CONDITIONS if c.key == key), None)


def analyte_by_key(key: str) -> Analyte | None:
    return next((a for a in ANALYTES if a.key == key), None)

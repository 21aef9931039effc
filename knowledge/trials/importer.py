"""Import trial records from ClinicalTrials.gov exports into :class:`~knowledge.trials.models.Trial`.

Accepted inputs (by content, not only by suffix):

* the modern API JSON (``/api/v2/studies``): one study ``{"protocolSection": …}``, a list of them, or a
  page ``{"studies": [...]}``; ``.jsonl`` with one study per line;
* the classic XML (``<clinical_study>``, the pre-2024 ``/ct2/show/NCT…?displayxml=true`` format);
* BEIR-style corpus lines ``{"_id": "NCT…", "text": "…"}`` (evaluation corpora: text only, no criteria).

Every criterion is split out (:mod:`knowledge.trials.splitting`) and parsed into a rule where it states
one plainly (:mod:`knowledge.trials.criteria`). A record without an id is refused with a clear error.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring

from knowledge.trials.criteria import parse_rule
from knowledge.trials.models import Criterion, Location, Sex, Trial
from knowledge.trials.splitting import split_criteria

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(year|month|week|day|hour|minute)s?\s*$", re.IGNORECASE)
_PER_YEAR = {"year": 1.0, "month": 12.0, "week": 52.1775, "day": 365.25, "hour": 8766.0, "minute": 525960.0}


class TrialImportError(ValueError):
    """A file or record that is not a trial in any of the accepted formats."""


def parse_age(value: str | None) -> float | None:
    """ "18 Years" → 18.0, "6 Months" → 0.5; "N/A" or empty → ``None`` (no limit)."""
    if not value:
        return None
    m = _AGE.match(value)
    if not m:
        return None
    return float(m.group(1)) / _PER_YEAR[m.group(2).lower()]


def _sex(value: str | None) -> Sex:
    v = (value or "ALL").strip().upper()
    return "FEMALE" if v == "FEMALE" else "MALE" if v == "MALE" else "ALL"


def _status(value: str | None) -> str:
    return re.sub(r"[\s,]+", "_", (value or "UNKNOWN").strip()).upper()


def _criteria(text: str) -> tuple[list[Criterion], list[Criterion]]:
    inc, exc = split_criteria(text)
    return (
        [
            Criterion(id=f"inc-{i}", kind="inclusion", text=t, rule=parse_rule(t))
            for i, t in enumerate(inc, 1)
        ],
        [
            Criterion(id=f"exc-{i}", kind="exclusion", text=t, rule=parse_rule(t))
            for i, t in enumerate(exc, 1)
        ],
    )


def trial_from_api_json(study: Mapping[str, Any], source: str = "") -> Trial:
    """One study of the modern ClinicalTrials.gov API (``protocolSection`` structure)."""
    ps = study.get("protocolSection")
    if not isinstance(ps, Mapping):
        raise TrialImportError("not a ClinicalTrials.gov study: no protocolSection")
    ident = ps.get("identificationModule") or {}
    nct_id = str(ident.get("nctId") or "").strip()
    if not nct_id:
        raise TrialImportError("study without identificationModule.nctId")
    elig = ps.get("eligibilityModule") or {}
    inclusion, exclusion = _criteria(str(elig.get("eligibilityCriteria") or ""))
    locs = (ps.get("contactsLocationsModule") or {}).get("locations") or []
    return Trial(
        nct_id=nct_id,
        title=str(ident.get("briefTitle") or ident.get("officialTitle") or ""),
        brief_summary=str((ps.get("descriptionModule") or {}).get("briefSummary") or ""),
        conditions=list((ps.get("conditionsModule") or {}).get("conditions") or []),
        keywords=list((ps.get("conditionsModule") or {}).get("keywords") or []),
        interventions=[
            str(i.get("name"))
            for i in (ps.get("armsInterventionsModule") or {}).get("interventions") or []
            if i.get("name")
        ],
        phase=", ".join((ps.get("designModule") or {}).get("phases") or []),
        status=_status((ps.get("statusModule") or {}).get("overallStatus")),
        locations=[
            Location(
                facility=str(x.get("facility") or ""),
                city=str(x.get("city") or ""),
                state=str(x.get("state") or ""),
                country=str(x.get("country") or ""),
            )
            for x in locs
        ],
        minimum_age_years=parse_age(elig.get("minimumAge")),
        maximum_age_years=parse_age(elig.get("maximumAge")),
        sex=_sex(elig.get("sex")),
        healthy_volunteers=elig.get("healthyVolunteers"),
        eligibility_text=str(elig.get("eligibilityCriteria") or ""),
        inclusion=inclusion,
        exclusion=exclusion,
        is_demo=nct_id.upper().startswith("DEMO-"),
        source=source,
    )


def _text(el: ET.Element | None, path: str) -> str:
    if el is None:
        return ""
    found = el.find(path)
    return (found.text or "").strip() if found is not None and found.text else ""


def trial_from_classic_xml(root: ET.Element, source: str = "") -> Trial:
    """One ``<clinical_study>`` of the classic ClinicalTrials.gov XML."""
    if root.tag != "clinical_study":
        raise TrialImportError(f"not a classic ClinicalTrials.gov record: <{root.tag}>")
    nct_id = _text(root, "id_info/nct_id")
    if not nct_id:
        raise TrialImportError("clinical_study without id_info/nct_id")
    elig = root.find("eligibility")
    criteria_text = _text(elig, "criteria/textblock")
    inclusion, exclusion = _criteria(criteria_text)
    hv = _text(elig, "healthy_volunteers").lower()
    return Trial(
        nct_id=nct_id,
        title=_text(root, "brief_title") or _text(root, "official_title"),
        brief_summary=re.sub(r"\s+", " ", _text(root, "brief_summary/textblock")),
        conditions=[(c.text or "").strip() for c in root.findall("condition") if c.text],
        keywords=[(c.text or "").strip() for c in root.findall("keyword") if c.text],
        interventions=[
            _text(i, "intervention_name")
            for i in root.findall("intervention")
            if _text(i, "intervention_name")
        ],
        phase=_text(root, "phase"),
        status=_status(_text(root, "overall_status")),
        locations=[
            Location(
                facility=_text(loc, "facility/name"),
                city=_text(loc, "facility/address/city"),
                state=_text(loc, "facility/address/state"),
                country=_text(loc, "facility/address/country"),
            )
            for loc in root.findall("location")
        ],
        minimum_age_years=parse_age(_text(elig, "minimum_age")),
        maximum_age_years=parse_age(_text(elig, "maximum_age")),
        sex=_sex(_text(elig, "gender")),
        healthy_volunteers=True if hv.startswith("accepts") or hv == "yes" else False if hv else None,
        eligibility_text=criteria_text,
        inclusion=inclusion,
        exclusion=exclusion,
        is_demo=nct_id.upper().startswith("DEMO-"),
        source=source,
    )


def trial_from_corpus_line(row: Mapping[str, Any], source: str = "") -> Trial:
    """A BEIR-style corpus row ``{"_id", "title"?, "text"}``: text only, status unknown."""
    nct_id = str(row.get("_id") or "").strip()
    if not nct_id:
        raise TrialImportError("corpus row without _id")
    return Trial(
        nct_id=nct_id,
        title=str(row.get("title") or ""),
        brief_summary=str(row.get("text") or ""),
        source=source,
    )


def _from_json_value(value: Any, source: str) -> Iterable[Trial]:
    if isinstance(value, list):
        for v in value:
            yield from _from_json_value(v, source)
    elif isinstance(value, Mapping) and isinstance(value.get("studies"), list):
        yield from _from_json_value(value["studies"], source)
    elif isinstance(value, Mapping) and "protocolSection" in value:
        yield trial_from_api_json(value, source)
    elif isinstance(value, Mapping) and "_id" in value:
        yield trial_from_corpus_line(value, source)
    else:
        raise TrialImportError("JSON value is neither a study, a list of studies nor a corpus row")


def import_file(path: Path) -> list[Trial]:
    """All trials in one file (``.json``, ``.jsonl``, ``.xml``); raises :class:`TrialImportError`."""
    source = path.name
    raw = path.read_text(encoding="utf-8")
    head = raw.lstrip()[:1]
    if head == "<":
        try:
            root = defused_fromstring(raw, forbid_dtd=True)
        except (ET.ParseError, DefusedXmlException) as err:
            # DTDs and entities are refused outright (entity-expansion attacks): trial XML has none.
            raise TrialImportError(f"{source}: invalid or unsafe XML ({type(err).__name__})") from err
        if root.tag == "clinical_study":
            return [trial_from_classic_xml(root, source)]
        studies = [trial_from_classic_xml(el, source) for el in root.iter("clinical_study")]
        if not studies:
            raise TrialImportError(f"{source}: no <clinical_study> in <{root.tag}>")
        return studies
    try:
        if path.suffix == ".jsonl":
            return [
                t
                for line in raw.splitlines()
                if line.strip()
                for t in _from_json_value(json.loads(line), source)
            ]
        return list(_from_json_value(json.loads(raw), source))
    except json.JSONDecodeError as err:
        raise TrialImportError(f"{source}: invalid JSON ({err.msg} at line {err.lineno})") from err


def import_files(paths: Iterable[Path]) -> list[Trial]:
    """Trials from several files; a later record with the same id replaces the earlier one."""
    by_id: dict[str, Trial] = {}
    for p in paths:
        for trial in import_file(p):
            by_id[trial.nct_id] = trial
    return list(by_id.values())

"""Service ``trial-matching`` (patient-view): recruiting clinical trials this patient may fit.

When the chart opens, the patient's record becomes a query and a profile (:mod:`clinical.patient_profile`),
the current trial release is searched (hybrid BM25 + dense) and the top candidates are checked criterion
by criterion (:mod:`knowledge.trials.eligibility`). One info card when at least one trial passes the bar
(``trials_card_min_fit``; nothing rules the patient out; the trial's condition is one the patient has):
"2 recruiting trials may fit: …", with a SMART link to the app's trial view (``appContext`` names the
view and the trials) and the registry records. No trial passes → no card.

CDS Hooks 2.0 §Card Attributes, §Link (type ``smart`` + ``appContext``); patient-view hook 1.0.
"""

from __future__ import annotations

import json
import logging

from cds_services.models import Card, Coding, Indicator, Link, LinkType, Source
from cds_services.registry import CdsService, ServiceInput, register
from cds_services.services.trial_setup import matches_for, trial_index, warm_up
from cds_services.services.trial_view import passes_bar
from clinical.patient_profile import build_profile
from knowledge.trials.matching import TrialMatch
from knowledge.trials.release import ReleaseNotFound

log = logging.getLogger(__name__)

SUMMARY_LIMIT = 139
_TOPIC = Coding(
    code="trial-matching", system="https://evidence-cds.org/topics", display="Clinical trial matching"
)


def _summary(fitting: list[TrialMatch], recruiting_only: bool, max_listed: int) -> str:
    n = len(fitting)
    head = f"{n} {'recruiting ' if recruiting_only else ''}trial{'s' if n != 1 else ''} may fit: "
    names: list[str] = []
    for m in fitting[:max_listed]:
        candidate = "; ".join([*names, m.trial.title or m.trial.nct_id])
        if len(head + candidate) > SUMMARY_LIMIT - 4:
            break
        names.append(m.trial.title or m.trial.nct_id)
    text = head + "; ".join(names)
    if len(names) < n:
        text += " …" if names else "see trial view"
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1] + "…"


def _detail(fitting: list[TrialMatch]) -> str:
    lines = []
    for m in fitting[:10]:
        e = m.eligibility
        assert e is not None
        unknown = sum(r.status == "unknown" for r in e.results)
        demo = " — fictional demo trial" if m.trial.is_demo else ""
        lines.append(
            f"- **{m.trial.title or m.trial.nct_id}** ({m.trial.nct_id}{demo}): "
            f"{e.inclusion_met} of {e.inclusion_total} inclusion criteria met, none failed, no exclusion met"
            + (f"; {unknown} criteria need checking" if unknown else "")
        )
    lines.append("\nEligibility is checked against the record only; confirm with the study team.")
    return "\n".join(lines)


def handle(inp: ServiceInput) -> list[Card]:
    settings = inp.settings
    if inp.record.deceased:  # never suggest enrolling a patient who has died
        inp.note("patient is deceased: no trial advice")
        return []
    try:
        index = trial_index(settings)
    except (ReleaseNotFound, OSError, ValueError) as err:
        # A damaged trial release must not break the chart: no trial advice, and say why in the audit.
        log.warning("trial release unreadable: %s", type(err).__name__)
        inp.note(f"trial release unreadable ({type(err).__name__})")
        return []
    inp.use_release(index.release_id)
    profile = build_profile(inp.record)
    matches = matches_for(profile, profile.query, settings, index)
    fitting = [m for m in matches if passes_bar(m, settings.trials_card_min_fit)]
    if not fitting:
        inp.note(f"no trial passed the bar ({len(matches)} checked)")
        return []
    base = settings.public_base_url.rstrip("/")
    ids = [m.trial.nct_id for m in fitting]
    links = [
        Link(
            label="Review trial eligibility",
            url=f"{base}/app/launch",
            type=LinkType.smart,
            appContext=json.dumps({"view": "trials", "trials": ids[:20], "release": index.release_id}),
        )
    ]
    links += [
        Link(
            label=f"{m.trial.nct_id} on ClinicalTrials.gov", url=m.trial.registry_url, type=LinkType.absolute
        )
        for m in fitting[:3]
        if m.trial.registry_url
    ]
    all_demo = all(m.trial.is_demo for m in fitting)
    source = Source(
        label="evidence-cds demo trials (fictional)" if all_demo else "ClinicalTrials.gov",
        url=None if all_demo else "https://clinicaltrials.gov/",
        topic=_TOPIC,
    )
    card = Card(
        summary=_summary(fitting, settings.trials_recruiting_only, settings.trials_card_max_listed),
        detail=_detail(fitting),
        indicator=Indicator.info,
        source=source,
        links=links,
        extension={"evidence-cds-trials": {"release": index.release_id, "trials": ids}},
    )
    return [card]


SERVICE = register(
    CdsService(
        id="trial-matching",
        hook="patient-view",
        title="Clinical trials that may fit",
        description="Recruiting clinical trials whose inclusion and exclusion criteria this patient may "
        "meet, checked criterion by criterion against the record.",
        prefetch={
            "patient": "Patient/{{context.patientId}}",
            "conditions": "Condition?patient={{context.patientId}}",
            "medications": "MedicationRequest?patient={{context.patientId}}&status=active",
            "observations": "Observation?patient={{context.patientId}}",
            "notes": "DocumentReference?patient={{context.patientId}}",
        },
        optional_prefetch=frozenset({"notes"}),
        handler=handle,
        time_budget_ms=800,
        warm_up=warm_up,
    )
)

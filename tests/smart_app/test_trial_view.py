"""The app's trial view over real HTTP: the demo patient who fits the demo T2DM trial, a patient whom
an exclusion rules out, appContext landing, and bad ids."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup, Tag

from smart_app.trial_view import effect_of
from tests.conftest import System
from tests.smart_app.conftest import AppBrowser, launch, launch_with_context, session_id_of, view_list

DEMO_TRIAL = "DEMO-T2DM-001"


def trial_list(b: AppBrowser, system: System, sid: str, **params: str) -> BeautifulSoup:
    return view_list(b, system, sid, "trials", **params)


def rows(trial: Tag, caption: str) -> dict[str, Tag]:
    table = next(t for t in trial.select("table.criteria") if t.caption.get_text() == caption)
    return {tr.th.get_text(): tr for tr in table.select("tbody tr") if tr.th}


def test_demo_patient_fits_the_demo_trial_criterion_by_criterion(smart_system: System) -> None:
    b, page = launch(smart_system, "demo-trial")
    sid = session_id_of(page)
    shell = b.get(f"{smart_system.app_url}/app/s/{sid}/trials")
    assert shell.status_code == 200
    shell_soup = BeautifulSoup(shell.text, "html.parser")
    assert shell_soup.select_one("nav.app-nav a[aria-current=page]").get_text() == "Trials"
    assert shell_soup.select_one("#trial-list .loading[role=status]") is not None

    soup = trial_list(b, smart_system, sid)
    trial = soup.select_one(f"details#trial-{DEMO_TRIAL}")
    assert trial is not None
    assert trial.select_one(".flag-demo").get_text() == "demo trial"
    assert trial.select_one(".verdict").get_text() == "May fit"
    facts = trial.select_one("dl.trial-facts").get_text(" ", strip=True)
    assert "recruiting" in facts and "Phase 3" in facts and "Type 2 Diabetes" in facts
    assert "not in any registry" in facts  # a demo trial has no registry record
    inclusion = rows(trial, "Inclusion criteria")
    exclusion = rows(trial, "Exclusion criteria")
    assert inclusion and exclusion
    assert all(tr.select_one(".status").get_text() == "met" for tr in inclusion.values())
    assert all(tr.select_one(".status").get_text() != "met" for tr in exclusion.values())
    a1c = next(tr for text, tr in inclusion.items() if "HbA1c" in text)
    assert "8.4" in a1c.get_text()
    link = a1c.select_one(".trail a")
    assert link["href"] == f"/app/s/{sid}/#panel-labs"
    assert link.get_text().startswith("Observation/")
    # the pregnancy status (a social-history Observation the record view does not read) decides it
    pregnancy = next(tr for text, tr in exclusion.items() if "Pregnan" in text)
    assert pregnancy.select_one(".status").get_text() == "not met"


def test_a_met_exclusion_is_shown_as_ruling_the_trial_out(smart_system: System) -> None:
    b, page = launch(smart_system, "demo-multiproblem")  # on insulin, eGFR 37
    soup = trial_list(b, smart_system, session_id_of(page))
    trial = soup.select_one(f"details#trial-{DEMO_TRIAL}")
    assert trial is not None
    assert trial.select_one(".verdict").get_text() == "Ruled out by a criterion"
    insulin = next(tr for text, tr in rows(trial, "Exclusion criteria").items() if "insulin" in text)
    assert insulin.select_one(".status").get_text() == "met"
    assert "effect-rules-out" in insulin["class"]
    assert "MedicationRequest/" in insulin.get_text()


def test_app_context_lands_on_trials_with_the_named_trial_open(smart_system: System) -> None:
    context = {"view": "trials", "trials": [DEMO_TRIAL, "NCT00000000", "bad id!"], "release": "old-release"}
    b, landed = launch_with_context(smart_system, "demo-trial", context)
    assert landed.status_code == 200 and "/trials" in landed.url
    soup = trial_list(b, smart_system, session_id_of(landed))
    assert [d["data-trial"] for d in soup.select("details[open]")] == [DEMO_TRIAL]
    alerts = " ".join(a.get_text() for a in soup.select("[role=alert]"))
    assert "NCT00000000" in alerts and "bad id!" in alerts


def test_other_app_context_views_land_on_the_record(smart_system: System) -> None:
    _b, landed = launch_with_context(smart_system, "demo-trial", {"view": "drug-interaction", "drugs": []})
    assert landed.status_code == 200
    assert landed.url.endswith(f"/app/s/{session_id_of(landed)}/")


@pytest.mark.parametrize("open_arg", ["", "<b>x</b>", "x" * 300, DEMO_TRIAL.lower()])
def test_bad_open_ids_never_break_the_view(smart_system: System, open_arg: str) -> None:
    b, page = launch(smart_system, "demo-trial")
    soup = trial_list(b, smart_system, session_id_of(page), open=open_arg)
    assert soup.select("details.trial")
    assert not soup.select("details[open]")
    assert "<b>" not in "".join(str(a) for a in soup.select("[role=alert]"))


@pytest.mark.parametrize(
    ("kind", "status", "effect"),
    [
        ("inclusion", "met", "fits"),
        ("inclusion", "not_met", "rules out"),
        ("exclusion", "met", "rules out"),
        ("exclusion", "not_met", "fits"),
        ("inclusion", "unknown", "check"),
        ("exclusion", "unknown", "check"),
    ],
)
def test_effect_of_a_criterion(kind: str, status: str, effect: str) -> None:
    assert effect_of(kind, status) == effect

"""Service ``differentials`` over real HTTP (signed JWT, prefetch of the demo patient), the card's
contract (summary length, SMART link, finding trail and source per diagnosis), silence for thin records,
and the ranking's reasons."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from cds_services.services.differential_evidence import names_disease
from cds_services.services.differential_ranking import rank_diagnoses
from cds_services.services.differentials import build_differential, warm_up
from clinical.nlp import Finding
from clinical.record import build_patient_record
from knowledge.diseases import load_default_kb
from knowledge.librarian.config import knowledge_config
from knowledge.starter import ensure_starter_release
from tests.cds_services.conftest import (
    CdsServer,
    EhrClient,
    KeyHost,
    demo_resources,
    patient_view,
    searchset,
    start_cds,
)

MODULE = "cds_services.services.differentials"


@pytest.fixture(scope="module")
def ddx(tmp_path_factory: pytest.TempPathFactory, key_host: KeyHost) -> Iterator[CdsServer]:
    srv = start_cds(tmp_path_factory.mktemp("ddx"), key_host, cds_service_modules=[MODULE])
    settings = srv.app.extensions["settings"]
    # the starter knowledge release, as `make run` publishes it: real embeddings, hybrid retrieval
    assert ensure_starter_release(knowledge_config(settings), None)
    warm_up(settings)  # as gunicorn's post_worker_init does: NLP pipeline, KB, retriever
    yield srv
    srv.server.stop()


@pytest.fixture
def client(ddx: CdsServer, ec_key: Any) -> EhrClient:
    return EhrClient(ddx.url, ec_key)


def prefetch_for(resources: list[dict[str, Any]]) -> dict[str, Any]:
    by = lambda t: [r for r in resources if r["resourceType"] == t]  # noqa: E731
    return {
        "patient": by("Patient")[0] if by("Patient") else None,
        "conditions": searchset(by("Condition")),
        "observations": searchset(by("Observation")),
        "medications": searchset(by("MedicationRequest")),
        "notes": searchset(by("DocumentReference")),
        "encounters": searchset(by("Encounter")),
    }


def call(client: EhrClient, patient: str, resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    resp = client.call("differentials", patient_view(patient, prefetch_for(resources)))
    assert resp.status_code == 200, resp.text
    cards: list[dict[str, Any]] = resp.json()["cards"]
    return cards


def test_discovery_advertises_patient_view(client: EhrClient, ddx: CdsServer) -> None:
    import requests

    services = {s["id"]: s for s in requests.get(f"{ddx.url}/cds-services", timeout=10).json()["services"]}
    assert services["differentials"]["hook"] == "patient-view"
    assert "{{context.patientId}}" in services["differentials"]["prefetch"]["notes"]


def test_multiproblem_patient_gets_one_info_card_with_trails_and_sources(
    client: EhrClient, ddx: CdsServer
) -> None:
    resources = demo_resources("demo-multiproblem")
    cards = call(client, "demo-multiproblem", resources)
    assert len(cards) == 1
    card = cards[0]
    assert card["indicator"] == "info"
    assert len(card["summary"]) < 140 and card["summary"].startswith("Differential to consider")
    assert "not diagnoses" in card["detail"] and "Consider " in card["detail"]
    link = card["links"][0]
    assert link["type"] == "smart" and link["url"] == f"{ddx.url}/app/launch"
    assert json.loads(link["appContext"])["view"] == "differentials"
    diagnoses = card["extension"]["evidence-cds-differentials"]["diagnoses"]
    assert diagnoses
    ids = {r["id"] for r in resources}
    for d in diagnoses:
        assert d["supporting"], d["name"]  # a finding trail for every listed diagnosis ...
        for ev in d["supporting"]:
            assert ev["source_id"] in ids  # ... back to a resource of this patient
            assert ev["assertion"] in ("present", "historical", "possible")
        assert d["citations"] and all(c["label"] for c in d["citations"])  # ... and a source
    # guideline passages are cited only for diagnoses they name, with the release they come from
    passages = [(d, c) for d in diagnoses for c in d["citations"] if c["kind"] == "passage"]
    assert passages
    for d, c in passages:
        assert c["release_id"] and c["quote"]
        assert names_disease(c["quote"], load_default_kb().get(d["id"]))  # type: ignore[arg-type]
    # the note says "Denies chest pain" and "Mother had colon cancer": neither may support anything
    for d in diagnoses:
        assert not any(ev["concept"] in ("chest_pain", "cancer_history") for ev in d["supporting"])
    # diagnoses already on the problem list (type 2 diabetes, CKD) are not proposed again
    names = {d["name"] for d in diagnoses}
    assert "Diabetes mellitus" not in names and "Chronic kidney disease" not in names


def test_empty_record_gives_no_card(client: EhrClient) -> None:
    patient = {"resourceType": "Patient", "id": "empty-1", "gender": "female", "birthDate": "1980-01-01"}
    assert call(client, "empty-1", [patient]) == []


def test_record_with_a_single_finding_gives_no_card(client: EhrClient) -> None:
    patient = {"resourceType": "Patient", "id": "thin-1", "gender": "male", "birthDate": "1970-01-01"}
    cond = {"resourceType": "Condition", "id": "thin-1-c", "subject": {"reference": "Patient/thin-1"},
            "clinicalStatus": {"coding": [{"code": "active"}]}, "code": {"text": "Headache"}}  # fmt: skip
    assert call(client, "thin-1", [patient, cond]) == []


def _f(concept: str, assertion: str = "present") -> Finding:
    return Finding(concept_id=concept, label=concept, assertion=assertion, source="note", source_id="n1")  # type: ignore[arg-type]


def test_negated_finding_opposes_and_family_history_never_supports() -> None:
    kb = load_default_kb()
    base = [_f("rlq_pain"), _f("anorexia"), _f("vomiting")]
    with_fever = rank_diagnoses([*base, _f("fever")], kb, limit=40)
    no_fever = rank_diagnoses([*base, _f("fever", "absent")], kb, limit=40)
    score = lambda ranked, name: next(r.score for r in ranked if r.disease.name == name)  # noqa: E731
    assert score(no_fever, "Acute appendicitis") < score(with_fever, "Acute appendicitis")
    appendicitis = next(r for r in no_fever if r.disease.name == "Acute appendicitis")
    assert any(e.finding.concept_id == "fever" for e in appendicitis.opposing)
    family = rank_diagnoses([_f("diabetes_history", "family"), _f("cancer_history", "family")], kb)
    assert family == []  # family history alone is nothing to reason about


def test_sex_restricted_diagnoses_are_never_proposed_for_the_other_sex() -> None:
    kb = load_default_kb()
    male = Finding(concept_id="sex_male", label="male", source="demographic")
    ranked = rank_diagnoses(
        [male, _f("lower_abdominal_pain"), _f("amenorrhea"), _f("vaginal_bleeding")], kb, limit=40
    )
    assert all(r.disease.sex != "female" for r in ranked)


def test_cant_miss_conditions_are_surfaced_and_marked() -> None:
    kb = load_default_kb()
    patient = {"resourceType": "Patient", "id": "p-cm", "gender": "male", "birthDate": "1960-01-01"}
    note = "Chest pain for two hours, sweating and nausea. Pain radiates to the left arm."
    import base64

    doc = {"resourceType": "DocumentReference", "id": "p-cm-note", "status": "current",
           "subject": {"reference": "Patient/p-cm"},
           "content": [{"attachment": {"contentType": "text/plain",
                                       "data": base64.b64encode(note.encode()).decode()}}]}  # fmt: skip
    diff = build_differential(build_patient_record([patient, doc]), kb)
    assert diff is not None
    top = diff.shown[0]
    assert top.disease.name == "Acute coronary syndrome" and top.cant_miss

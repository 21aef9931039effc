"""Retrieval terms and the weight of the prose population penalty in the final ranking."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from clinical.patient_profile import PatientProfile
from knowledge.embeddings import Embedder
from knowledge.trials.index import TrialIndex, tokenize
from knowledge.trials.matching import MatchOptions, match_trials
from knowledge.trials.models import Criterion, Trial
from knowledge.trials.population import population_penalty
from knowledge.trials.release import build_index

MakeProfile = Callable[..., PatientProfile]


def test_case_narrative_words_do_not_reach_bm25() -> None:
    tokens = tokenize(
        "A 4-year-old girl presents to the emergency department. The physical exam reveals a swollen "
        "knee; the parents report she had fever since yesterday."
    )
    assert {"emergency", "department", "physical", "exam", "reveal", "parent", "had", "since"}.isdisjoint(
        tokens
    )
    assert {"girl", "swollen", "knee", "fever"} <= set(tokens)


def test_a_headline_match_outweighs_the_same_word_in_the_criteria() -> None:
    # Both trials hold the same words once; only the field that names gout differs.
    about_gout = Trial(
        nct_id="NCT-HEAD",
        title="Gout",
        inclusion=[Criterion(id="inc-1", kind="inclusion", text="Adults aged 40 or older")],
    )
    mentions_gout = Trial(
        nct_id="NCT-BODY",
        title="Adults",
        inclusion=[Criterion(id="inc-1", kind="inclusion", text="Gout aged 40 or older")],
    )
    excludes_gout = Trial(
        nct_id="NCT-EXCL",
        title="Adults",
        inclusion=[Criterion(id="inc-1", kind="inclusion", text="Aged 40 or older")],
        exclusion=[Criterion(id="exc-1", kind="exclusion", text="Gout")],
    )
    trials = [mentions_gout, about_gout, excludes_gout]
    index = TrialIndex(trials, np.zeros((3, 4), dtype=np.float32), np.arange(3, dtype=np.int32))
    scores = index.bm25_scores("gout flare")
    assert scores[1] > scores[0] > scores[2] == 0.0


def _summary_trial(nct_id: str, text: str) -> Trial:
    return Trial(nct_id=nct_id, brief_summary=text)


def test_prose_population_breaks_ties_but_does_not_override_topic(
    embedder: Embedder, make_profile: MakeProfile
) -> None:
    topic = "Intravenous immunoglobulin for Kawasaki disease with coronary artery aneurysm"
    trials = [
        _summary_trial("NCT-ADULT", f"{topic} in adults."),
        _summary_trial("NCT-CHILD", f"{topic} in children."),
        _summary_trial("NCT-OTHER", "Inhaled corticosteroid dosing for asthma in children."),
    ]
    index = build_index(trials, embedder, release_id="test-population")
    child = make_profile(age_years=4.0, sex="female", lists_complete=False, conditions=[], medications=[])
    assert population_penalty(trials[0], child) > 0 and population_penalty(trials[1], child) == 0
    query = "Kawasaki disease with coronary artery aneurysm, treated with intravenous immunoglobulin"
    opts = MatchOptions(mode="bm25", recruiting_only=False)
    ranked = [m.trial.nct_id for m in match_trials(index, child, query, None, opts)]
    # Same topic: the trial whose population fits comes first. The misfit stays above an off-topic
    # trial, because prose about a population is a tie-breaker, not a criterion.
    assert ranked == ["NCT-CHILD", "NCT-ADULT", "NCT-OTHER"]
    without = MatchOptions(mode="bm25", recruiting_only=False, population_weight=0.0)
    scores = {m.trial.nct_id: m.score for m in match_trials(index, child, query, None, without)}
    assert abs(scores["NCT-ADULT"] - scores["NCT-CHILD"]) < 0.05


def test_an_explicit_age_range_outranks_adult_wording(make_profile: MakeProfile) -> None:
    trial = _summary_trial(
        "NCT-RANGE",
        "Adult patients submitted to emergency appendectomy were studied: patients with appendicitis "
        "with an age range from 15 to 80 years.",
    )
    assert population_penalty(trial, make_profile(age_years=15.0)) == 0.0
    assert population_penalty(trial, make_profile(age_years=12.0)) > 0.0

"""The optional rephrasing generator: its guard rejects invented citations, added diagnoses and
statements of fact, falling back to the extractive text; the OpenAI-compatible client over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, jsonify, request
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from cds_services.services.differential_evidence import Citation
from cds_services.services.differential_generator import OpenAICompatibleChatModel, check_output, rephrase
from knowledge.diseases import Disease, load_default_kb
from tests.support.live_server import LiveServer

EXTRACTIVE = "1. **Consider Iron deficiency anemia** — For: hemoglobin 9.8 g/dL (L). Source: KB."
CITES = [
    Citation(label="USPSTF (2015). Iron deficiency anemia screening.", url="https://example.org/ida"),
    Citation(
        label="Human Disease Ontology (CC0-1.0)",
        url="https://github.com/DiseaseOntology/HumanDiseaseOntology",
    ),
]


def ranked() -> list[Disease]:
    kb = load_default_kb()
    return [next(d for d in kb.diseases if d.name == n) for n in ("Iron deficiency anemia", "Thalassemia")]


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ("Consider iron deficiency anemia [S1]; thalassemia may fit [S7].", "S7"),
        ("Consider iron deficiency anemia, see https://invented.example.com/guideline.", "URL"),
        ("Consider iron deficiency anemia [S1] or pulmonary embolism.", "Pulmonary embolism"),
        ("The patient has iron deficiency anemia [S1].", "as fact"),
    ],
)
def test_guard_rejects_and_the_extractive_text_is_shown(output: str, reason: str) -> None:
    kb = load_default_kb()
    verdict = check_output(output, ranked(), CITES, kb)
    assert not verdict.accepted and reason in verdict.reason
    result = rephrase(EXTRACTIVE, ranked(), CITES, kb, FakeListChatModel(responses=[output]))
    assert result.text == EXTRACTIVE and not result.generated and "rejected" in result.reason


def test_guard_accepts_a_faithful_rewording() -> None:
    kb = load_default_kb()
    output = (
        "Iron deficiency anemia may fit the low hemoglobin [S1]; thalassemia is also worth considering [S2]."
    )
    result = rephrase(EXTRACTIVE, ranked(), CITES, kb, FakeListChatModel(responses=[output]))
    assert result.generated and result.text == output


def test_no_generator_means_extractive_text() -> None:
    result = rephrase(EXTRACTIVE, ranked(), CITES, load_default_kb(), None)
    assert result.text == EXTRACTIVE and not result.generated


def test_openai_compatible_client_posts_chat_completions_over_http() -> None:
    seen: list[dict[str, Any]] = []
    app = Flask("fake-gateway")

    @app.post("/v1/chat/completions")
    def completions() -> Any:
        seen.append(request.get_json())
        return jsonify(
            {"choices": [{"message": {"role": "assistant", "content": "Consider thalassemia [S2]."}}]}
        )

    server = LiveServer()
    server.start(app)
    try:
        model = OpenAICompatibleChatModel(base_url=f"{server.url}/v1", model="tiny", timeout_s=5)
        result = rephrase(EXTRACTIVE, ranked(), CITES, load_default_kb(), model)
    finally:
        server.stop()
    assert result.generated and result.text == "Consider thalassemia [S2]."
    assert seen[0]["model"] == "tiny" and [m["role"] for m in seen[0]["messages"]] == ["system", "user"]

"""``clinical.fhir_client`` against a scripted FHIR server over loopback HTTP: timeouts, retries with
``Retry-After``, paging with a cap, same-origin links, one exception per status, parallel fetches."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient

from clinical.fhir_client import (
    FhirBadRequest,
    FhirClient,
    FhirClientConfig,
    FhirConnectionError,
    FhirError,
    FhirForbidden,
    FhirGone,
    FhirInvalidResponse,
    FhirNotFound,
    FhirRateLimited,
    FhirServerError,
    FhirTimeout,
    FhirUnauthorized,
    Query,
)
from tests.smart_app.fhir_stub import StubFhir, bundle, observation, running_stub


@pytest.fixture(scope="module")
def _stub_server() -> Iterator[StubFhir]:
    with running_stub() as stub:
        yield stub


@pytest.fixture
def stub_fhir(_stub_server: StubFhir) -> StubFhir:
    _stub_server.reset()
    return _stub_server


PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "p1",
    "name": [{"family": "Doe", "given": ["Ann"]}],
}


def _client(stub: StubFhir, **cfg: float) -> tuple[FhirClient, list[float]]:
    sleeps: list[float] = []
    config = FhirClientConfig(**{"backoff_base_s": 0.01, "max_retry_wait_s": 2.0, **cfg})  # type: ignore[arg-type]
    return FhirClient(stub.base, token="tok-123", config=config, sleep=sleeps.append), sleeps


def test_read_parses_r4b_and_sends_the_bearer_token(stub_fhir: StubFhir) -> None:
    stub_fhir.serve("/fhir/Patient/p1", PATIENT)
    client, _ = _client(stub_fhir)
    patient = client.read("Patient", "p1")
    assert isinstance(patient, Patient) and patient.name and patient.name[0].family == "Doe"
    assert stub_fhir.auth_headers == ["Bearer tok-123"]


@pytest.mark.parametrize(
    ("status", "exc"),
    [
        (400, FhirBadRequest),
        (401, FhirUnauthorized),
        (403, FhirForbidden),
        (404, FhirNotFound),
        (410, FhirGone),
        (500, FhirServerError),
        (502, FhirServerError),
    ],
)
def test_each_status_raises_its_exception(stub_fhir: StubFhir, status: int, exc: type[FhirError]) -> None:
    stub_fhir.script("/fhir/Patient/p1", (status, {"resourceType": "OperationOutcome"}, {}))
    client, sleeps = _client(stub_fhir)
    with pytest.raises(exc) as info:
        client.read("Patient", "p1")
    assert info.value.status == status
    assert "tok-123" not in str(info.value) and "p1" not in str(info.value)  # no token, no patient id
    assert stub_fhir.hits["/fhir/Patient/p1"] == 1 and sleeps == []  # no retry on these


@pytest.mark.parametrize(
    ("status", "retry_after", "expected_wait"), [(429, "1", 1.0), (503, "0", 0.0), (503, None, 0.01)]
)
def test_429_and_503_are_retried_honouring_retry_after(
    stub_fhir: StubFhir, status: int, retry_after: str | None, expected_wait: float
) -> None:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    stub_fhir.script("/fhir/Patient/p1", (status, {}, headers), (200, PATIENT, {}))
    client, sleeps = _client(stub_fhir)
    assert client.read("Patient", "p1").id == "p1"
    assert sleeps == [pytest.approx(expected_wait)]
    assert stub_fhir.hits["/fhir/Patient/p1"] == 2


def test_retry_after_as_http_date_and_capped(stub_fhir: StubFhir) -> None:
    stub_fhir.script(
        "/fhir/Patient/p1", (429, {}, {"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}), (200, PATIENT, {})
    )
    client, sleeps = _client(stub_fhir, max_retry_wait_s=1.5)
    client.read("Patient", "p1")
    assert sleeps == [1.5]


def test_retries_give_up_with_rate_limited(stub_fhir: StubFhir) -> None:
    stub_fhir.script("/fhir/Patient/p1", (429, {}, {"Retry-After": "0"}))
    client, sleeps = _client(stub_fhir, max_retries=2)
    with pytest.raises(FhirRateLimited):
        client.read("Patient", "p1")
    assert stub_fhir.hits["/fhir/Patient/p1"] == 3 and len(sleeps) == 2


def test_paging_follows_next_links_up_to_the_cap(stub_fhir: StubFhir) -> None:
    for page in range(1, 6):
        nxt = f"{stub_fhir.base}/Observation?page={page + 1}" if page < 5 else None
        key = "/fhir/Observation" + (f"?page={page}" if page > 1 else "")
        stub_fhir.serve(key, bundle([observation(page * 10 + i) for i in range(3)], nxt))
    client, _ = _client(stub_fhir)
    full = client.search("Observation", {"patient": "p1"})
    assert full.pages == 5 and len(full.resources) == 15 and not full.truncated
    assert all(isinstance(r, Observation) for r in full.resources)
    capped, _ = _client(stub_fhir, page_cap=2)
    part = capped.search("Observation", {"patient": "p1"})
    assert part.pages == 2 and len(part.resources) == 6 and part.truncated


def test_next_link_to_another_host_is_not_followed(stub_fhir: StubFhir) -> None:
    stub_fhir.serve(
        "/fhir/Observation", bundle([observation(1)], "https://elsewhere.example/fhir/Observation?page=2")
    )
    client, _ = _client(stub_fhir)
    with pytest.raises(FhirInvalidResponse, match="off the FHIR server"):
        client.search("Observation", {"patient": "p1"})


def test_invalid_resources_are_reported_not_fatal(stub_fhir: StubFhir) -> None:
    bad = {
        "resourceType": "Observation",
        "id": "bad",
        "status": "final",
        "code": {"text": "x"},
        "valueQuantity": "oops",
    }
    stub_fhir.serve("/fhir/Observation", bundle([observation(1), bad]))
    client, _ = _client(stub_fhir)
    result = client.search("Observation", {"patient": "p1"})
    assert [r.id for r in result.resources] == ["obs-1"]
    assert result.warnings and "bad" in result.warnings[0]


def test_non_json_answer_is_invalid_response(stub_fhir: StubFhir) -> None:
    stub_fhir.script("/fhir/Patient/p1", (200, "<html>login</html>", {}))
    client, _ = _client(stub_fhir)
    with pytest.raises(FhirInvalidResponse):
        client.read("Patient", "p1")


def test_parallel_fetch_isolates_failures(stub_fhir: StubFhir) -> None:
    stub_fhir.serve("/fhir/Patient/p1", PATIENT)
    stub_fhir.serve("/fhir/Observation", bundle([observation(1)]))
    stub_fhir.script("/fhir/AllergyIntolerance", (403, {}, {}))
    client, _ = _client(stub_fhir)
    out = client.fetch_parallel(
        {
            "patient": Query("Patient", read_id="p1"),
            "labs": Query("Observation", {"patient": "p1"}),
            "allergies": Query("AllergyIntolerance", {"patient": "p1"}),
        }
    )
    assert isinstance(out["allergies"], FhirForbidden)
    assert not isinstance(out["labs"], FhirError) and len(out["labs"].resources) == 1
    assert not isinstance(out["patient"], FhirError) and out["patient"].resources[0].id == "p1"


def test_connection_refused_and_read_timeout() -> None:
    client = FhirClient(
        "http://127.0.0.1:9/fhir",
        config=FhirClientConfig(max_retries=1, backoff_base_s=0.0),
        sleep=lambda _s: None,
    )
    with pytest.raises(FhirConnectionError):
        client.read("Patient", "p1")


def test_read_timeout_raises_fhir_timeout() -> None:
    import threading

    from flask import Flask

    from tests.support.live_server import LiveServer

    slow = Flask("slow")
    release = threading.Event()

    @slow.get("/fhir/Patient/p1")
    def _slow() -> dict[str, Any]:
        release.wait(2)
        return PATIENT

    server = LiveServer().start(slow)
    try:
        client = FhirClient(
            f"{server.url}/fhir",
            config=FhirClientConfig(read_timeout_s=0.2, max_retries=0),
        )
        started = time.perf_counter()
        with pytest.raises(FhirTimeout):
            client.read("Patient", "p1")
        assert time.perf_counter() - started < 1.5
    finally:
        release.set()
        server.stop()

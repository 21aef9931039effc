"""A scriptable stand-in for a third-party FHIR server (rate limits, outages, paging, odd vendors).

It is the *other side* (like a vendor's server), so scripting its failures is not mocking our code:
the client under test talks to it over real loopback HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, jsonify, request

from tests.support.live_server import LiveServer


@dataclass
class StubFhir:
    server: LiveServer
    # path → list of (status, body, headers) served in order; the last one repeats
    scripts: dict[str, list[tuple[int, Any, dict[str, str]]]] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    auth_headers: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"{self.server.url}/fhir"

    def reset(self) -> None:
        self.scripts.clear()
        self.hits.clear()
        self.auth_headers.clear()

    def script(self, path: str, *answers: tuple[int, Any, dict[str, str]]) -> None:
        self.scripts[path] = list(answers)

    def serve(self, path: str, body: Any) -> None:
        self.script(path, (200, body, {}))


def _app(stub: StubFhir) -> Flask:
    app = Flask("stub-fhir")

    @app.route("/<path:path>")
    def any_path(path: str) -> Response:
        key = "/" + path + (f"?page={request.args['page']}" if "page" in request.args else "")
        stub.hits[key] = stub.hits.get(key, 0) + 1
        stub.auth_headers.append(request.headers.get("Authorization", ""))
        answers = stub.scripts.get(key)
        if not answers:
            resp = jsonify(
                {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]}
            )
            resp.status_code = 404
            return resp
        status, body, headers = answers.pop(0) if len(answers) > 1 else answers[0]
        resp = jsonify(body) if not isinstance(body, str) else Response(body, mimetype="text/plain")
        resp.status_code = status
        for k, v in headers.items():
            resp.headers[k] = v
        return resp

    return app


@contextmanager
def running_stub() -> Iterator[StubFhir]:
    """Start a stub FHIR server on a loopback port (use from a fixture)."""
    server = LiveServer()
    stub = StubFhir(server)
    server.start(_app(stub))
    try:
        yield stub
    finally:
        server.stop()


def bundle(resources: list[dict[str, Any]], next_url: str | None = None) -> dict[str, Any]:
    b: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }
    if next_url:
        b["link"] = [{"relation": "next", "url": next_url}]
    return b


def observation(i: int, patient: str = "p1") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"obs-{i}",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "2160-0", "display": "Creatinine"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": f"2026-01-{(i % 28) + 1:02d}T08:00:00Z",
        "valueQuantity": {"value": 1.0 + i / 100, "unit": "mg/dL"},
    }

"""Patient-view latency of the ``differentials`` service against the no-op endpoint, same run.

    .venv/bin/python bench/ddx_latency.py [--requests N]

Starts the product on an ephemeral loopback port with ``cds_bench_noop`` on and JWT verification off
for both endpoints, so the difference is the service itself: prefetch parsing into R4B, the patient
record, clinical NLP over the notes, the ranking over the disease knowledge base, card rendering and
the audit row. Cases: the demo patient with several problems (one clinic note), and the same patient
with three more free-text notes (shared Avey vignettes as note text, ~1 kB each). The starter knowledge
release is published first (as ``make run`` does), so diagnoses it names cite a guideline passage;
retrieval is cached per release and diagnosis, so the warm-up requests pay its embeddings.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import bench_app, p50_p95, percentile, post_timed, searchset  # noqa: E402

AVEY = Path(__file__).resolve().parents[2] / "shared" / "data" / "ddx/avey_vignettes.jsonl"


def _note(rid: str, text: str) -> dict[str, Any]:
    return {"resourceType": "DocumentReference", "id": rid, "status": "current",
            "subject": {"reference": "Patient/demo-multiproblem"},
            "content": [{"attachment": {"contentType": "text/plain",
                                        "data": base64.b64encode(text.encode()).decode()}}]}  # fmt: skip


def _request(resources: list[dict[str, Any]]) -> dict[str, Any]:
    by = lambda t: [r for r in resources if r["resourceType"] == t]  # noqa: E731
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/demo-practitioner", "patientId": "demo-multiproblem"},
        "prefetch": {
            "patient": by("Patient")[0],
            "conditions": searchset(by("Condition")),
            "observations": searchset(by("Observation")),
            "medications": searchset(by("MedicationRequest")),
            "notes": searchset(by("DocumentReference")),
            "encounters": searchset(by("Encounter")),
        },
    }


def _time(url: str, bodies: list[dict[str, Any]]) -> tuple[list[float], int]:
    return post_timed(requests.Session(), url, bodies, timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument(
        "--no-release", action="store_true", help="skip publishing the starter knowledge release"
    )
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    patient = [
        e["resource"]
        for e in json.loads((ROOT / "sandbox/patients/demo-multiproblem.json").read_text())["entry"]
    ]
    extra: list[dict[str, Any]] = []
    if AVEY.exists():
        rows = [json.loads(x) for x in AVEY.read_text().splitlines()[:3]]
        extra = [
            _note(f"bench-note-{i}", f"{r['presentation']}\n{r['absent_findings']}")
            for i, r in enumerate(rows)
        ]
    cases = [("1 clinic note", patient), (f"{1 + len(extra)} notes", patient + extra)]
    with tempfile.TemporaryDirectory() as tmp:
        server, app = bench_app(Path(tmp) / "instance", "cds_services.services.differentials")
        from cds_services.services.differentials import warm_up

        if not args.no_release:
            from knowledge.librarian.config import knowledge_config
            from knowledge.starter import ensure_starter_release

            ensure_starter_release(knowledge_config(app.extensions["settings"]), None)

        warm_up(app.extensions["settings"])  # what gunicorn's post_worker_init does
        server.start(app)
        results = []
        try:
            service = f"{server.url}/cds-services/differentials"
            noop = f"{server.url}/cds-services/_bench/noop"
            for label, resources in cases:
                bodies = [_request(resources) for _ in range(args.requests)]
                _time(service, bodies[:10])
                _time(noop, bodies[:10])
                base, _ = _time(noop, bodies)
                ours, cards = _time(service, bodies)
                results.append((label, base, ours, cards))
        finally:
            server.stop()
    print(
        f"patient-view latency over loopback HTTP, {args.requests} requests each (JWT verification off, both)"
    )
    print(f"{'case':<16}{'no-op p50':>11}{'p95':>9}{'ours p50':>11}{'p95':>9}{'p95 ratio':>11}{'cards':>7}")
    for label, base, ours, cards in results:
        print(f"{label:<16}{p50_p95(base)}{p50_p95(ours)}"
              f"{percentile(ours, 0.95) / percentile(base, 0.95):>10.1f}x{cards:>7}")  # fmt: skip
    worst = max(percentile(ours, 0.95) for _, _, ours, _ in results)
    print(f"aim p95 < 150 ms: {'met' if worst < 150 else 'NOT met'} (worst p95 {worst:.1f} ms)")


if __name__ == "__main__":
    main()

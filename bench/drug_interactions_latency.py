"""Order-sign latency of the drug-interaction service with 5 and with 30 active medications, against
the no-op endpoint, over loopback HTTP in the same run.

    .venv/bin/python bench/drug_interactions_latency.py [--requests N]

Starts the product (``create_app``) on an ephemeral loopback port with ``cds_bench_noop`` on (the
``/cds-services/_bench/noop`` baseline: parse the body, answer no cards) and JWT verification off for
both, so the difference is the service itself: prefetch parsing into R4B, the patient record with
RxNorm ingredients, the decision, card rendering and the audit row. The patient is the demo warfarin
patient with an ibuprofen draft; the active medications are real RxNorm products drawn from the
interaction KB's member drugs (fixed seed), so the decision has real interactions to fold.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import bench_app, p50_p95, percentile, post_timed, searchset  # noqa: E402

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _products(n: int, seed: int = 7) -> list[tuple[str, str]]:
    """``n`` real SCD codes (code, ingredient name) of drugs that appear in the interaction KB."""
    import gzip

    from knowledge.drugs.kb import load_kb
    from knowledge.drugs.vocabulary import VOCABULARY_FILE, load_vocabulary

    vocab, kb = load_vocabulary(), load_kb()
    listed = {m.rxcui for e in kb.entries for s in (e.object, e.precipitant) for m in s.members}
    by_ingredient: dict[str, str] = {}
    with gzip.open(VOCABULARY_FILE, "rt", encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 4 and parts[0] == "SCD" and parts[2] == "systemic" and parts[3] in listed:
                by_ingredient.setdefault(parts[3], parts[1])
    picks = random.Random(seed).sample(sorted(by_ingredient), n)
    return [(by_ingredient[i], vocab.name_of(i)) for i in picks]


def _wanted(obs: dict[str, Any]) -> bool:
    """What the service's prefetch template asks for: the LOINC codes its context rules read."""
    from knowledge.drugs.context_rules import rule_codes

    loinc, _ = rule_codes()
    return any(c.get("code") in loinc for c in obs.get("code", {}).get("coding", []))


def _request(patient: list[dict[str, Any]], meds: list[tuple[str, str]]) -> dict[str, Any]:
    def mr(code: str, name: str, status: str) -> dict[str, Any]:
        return {
            "resourceType": "MedicationRequest",
            "id": f"m-{uuid.uuid4().hex[:10]}",
            "status": status,
            "intent": "order",
            "subject": {"reference": "Patient/demo-warfarin"},
            "authoredOn": "2026-11-01",
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code}], "text": name},
        }

    active = [r for r in patient if r["resourceType"] == "MedicationRequest"] + [
        mr(c, n, "active") for c, n in meds
    ]
    return {
        "hook": "order-sign",
        "hookInstance": str(uuid.uuid4()),
        "context": {
            "userId": "Practitioner/demo-practitioner",
            "patientId": "demo-warfarin",
            "draftOrders": searchset([mr("197805", "Ibuprofen 400 MG Oral Tablet", "draft")]),
        },
        "prefetch": {
            "patient": next(r for r in patient if r["resourceType"] == "Patient"),
            "medications": searchset(active),
            "conditions": searchset([r for r in patient if r["resourceType"] == "Condition"]),
            "labs": searchset([r for r in patient if r["resourceType"] == "Observation" and _wanted(r)]),
            "statements": searchset([]),
            "dispenses": searchset([]),
            "administrations": searchset([]),
        },
    }


def _time(url: str, bodies: list[dict[str, Any]]) -> tuple[list[float], int]:
    return post_timed(requests.Session(), url, bodies, timeout=10)


def _handler_times(bodies: list[dict[str, Any]], public_url: str) -> list[float]:
    """The service's own part, in-process: record + decision + cards from already-parsed R4B input
    (what the CDS core hands the handler after JWT, prefetch parsing and before audit)."""
    from cds_services.services.drug_interaction_cards import Citation, render_card
    from cds_services.services.drug_interaction_record import interaction_record
    from clinical.resources import flatten_resources, parse_strict
    from knowledge.drugs.context_rules import default_rulebook
    from knowledge.drugs.interactions import find_interactions
    from knowledge.drugs.kb import load_kb
    from knowledge.drugs.vocabulary import load_vocabulary

    vocab, kb, rules = load_vocabulary(), load_kb(), default_rulebook()
    out: list[float] = []
    for body in bodies:
        prefetch = {k: parse_strict(v) for k, v in body["prefetch"].items()}
        drafts = [parse_strict(r) for r in flatten_resources([body["context"]["draftOrders"]])]
        start = time.perf_counter()
        record = interaction_record(prefetch, drafts, vocab, patient_id="demo-warfarin")
        for f in find_interactions(record, kb=kb, rules=rules, vocab=vocab, now=record.as_of):
            if f.indicator is not None:
                src = kb.sources[f.entry.source]
                render_card(
                    f,
                    kb,
                    Citation(label=src.label, url=src.url),
                    patient_id="demo-warfarin",
                    public_base_url=public_url,
                    names=vocab.ingredient_names,
                )
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # one warning per call when JWT verification is off
    patient = [
        e["resource"] for e in json.loads((ROOT / "sandbox/patients/demo-warfarin.json").read_text())["entry"]
    ]
    with tempfile.TemporaryDirectory() as tmp:
        server, app = bench_app(Path(tmp) / "instance", "cds_services.services.drug_interactions")
        server.start(app)
        try:
            service = f"{server.url}/cds-services/drug-interactions"
            noop = f"{server.url}/cds-services/_bench/noop"
            pool = _products(30)
            rows = []
            for label, n in (("5 active meds", 5), ("30 active meds", 30)):
                bodies = [_request(patient, pool[:n]) for _ in range(args.requests)]
                _time(service, bodies[:20])  # warm-up: vocabulary, KB, rules, first-request costs
                _time(noop, bodies[:20])
                base, _ = _time(noop, bodies)
                ours, cards = _time(service, bodies)
                rows.append((label, base, ours, cards, _handler_times(bodies, server.url)))
        finally:
            server.stop()
    print(
        f"order-sign latency over loopback HTTP, {args.requests} requests each "
        "(JWT verification off for both)"
    )
    print(
        f"{'case':<16}{'no-op p50':>11}{'p95':>9}{'ours p50':>11}{'p95':>9}{'p95 ratio':>11}{'cards':>7}"
        f"{'handler p50':>13}{'p95':>9}"
    )
    for label, base, ours, cards, handler in rows:
        print(
            f"{label:<16}{p50_p95(base)}{p50_p95(ours)}"
            f"{percentile(ours, 0.95) / percentile(base, 0.95):>10.1f}x{cards:>7}"
            f"{p50_p95(handler, width=11)}"
        )
    worst = max(percentile(ours, 0.95) for _, _, ours, _, _ in rows)
    print(
        f"aim p95 < 50 ms end to end: {'met' if worst < 50 else 'NOT met'} (worst p95 {worst:.1f} ms); "
        "'handler' is the service's own part (record + decision + cards), in-process"
    )


if __name__ == "__main__":
    main()

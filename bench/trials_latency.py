"""Patient-view latency of ``trial-matching`` over the 248-trial development corpus and a 10× synthetic
enlargement of it, against the no-op endpoint of the same app, in the same run.

    .venv/bin/python bench/trials_latency.py [--requests N] [--scale 10]

For each corpus size a release is built in a temporary instance and the product is served on a
loopback port (``cds_bench_noop`` on, JWT verification off for both endpoints, so the difference is
the service: prefetch parsing, the profile, query encoding, BM25 + dense retrieval with one feedback
round, criterion-level eligibility for the top 50, the card and the audit row). The development
trials carry only a summary, so each is given the criteria of one demo trial (round robin) and a
recruiting status, making the eligibility work realistic. The enlargement repeats every trial under
new ids; its passage vectors are the real embeddings of the same texts (encoded once). The patient is
the sandbox's ``demo-trial``. No-op and service requests alternate in blocks so outside load hits both.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench._common import bench_app, p50_p95, percentile, post_timed, searchset  # noqa: E402
from knowledge.embeddings import get_embedder  # noqa: E402
from knowledge.trials.demo import demo_trials  # noqa: E402
from knowledge.trials.importer import import_file  # noqa: E402
from knowledge.trials.models import Trial  # noqa: E402
from knowledge.trials.release import build_release  # noqa: E402

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "trials/dev_corpus.jsonl"


class MemoEncoder:
    """The real embedder, each distinct text encoded once (the enlargement repeats texts)."""

    def __init__(self) -> None:
        self.inner = get_embedder()
        self.model_name = self.inner.model_name
        self.memo: dict[str, npt.NDArray[np.float32]] = {}

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        todo = [t for t in dict.fromkeys(texts) if t not in self.memo]
        if todo:
            for t, v in zip(todo, self.inner.encode(todo), strict=True):
                self.memo[t] = v
        return np.stack([self.memo[t] for t in texts]) if texts else np.zeros((0, 384), dtype=np.float32)


def corpus(scale: int) -> list[Trial]:
    demos = demo_trials()
    base = [
        t.model_copy(update={"status": "RECRUITING", "inclusion": demos[i % len(demos)].inclusion,
                             "exclusion": demos[i % len(demos)].exclusion})
        for i, t in enumerate(import_file(CORPUS))
    ]  # fmt: skip
    copies = [t.model_copy(update={"nct_id": f"{t.nct_id}-SYN{k}"}) for k in range(1, scale) for t in base]
    return [*demos, *base, *copies]


def request_body() -> dict[str, Any]:
    res = [
        e["resource"] for e in json.loads((ROOT / "sandbox/patients/demo-trial.json").read_text())["entry"]
    ]

    def by(rtype: str) -> list[dict[str, Any]]:
        return [r for r in res if r["resourceType"] == rtype]

    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/demo-practitioner", "patientId": "demo-trial"},
        "prefetch": {
            "patient": by("Patient")[0],
            "conditions": searchset(by("Condition")),
            "medications": searchset(by("MedicationRequest")),
            "observations": searchset(by("Observation")),
            "notes": searchset(by("DocumentReference")),
        },
    }


def _time(session: requests.Session, url: str, n: int) -> tuple[list[float], int]:
    return post_timed(session, url, (request_body() for _ in range(n)), timeout=60)


def run(trials: list[Trial], encoder: MemoEncoder, n: int) -> tuple[list[float], list[float], int]:
    with tempfile.TemporaryDirectory() as tmp:
        instance = Path(tmp) / "instance"
        build_release(trials, instance / "knowledge" / "trials", encoder)
        server, app = bench_app(instance, "cds_services.services.trial_matching")
        from cds_services.services.trial_setup import warm_up

        warm_up(app.extensions["settings"])  # what gunicorn's post_worker_init does
        server.start(app)
        base: list[float] = []
        ours: list[float] = []
        cards = 0
        try:
            session = requests.Session()
            service, noop = (
                f"{server.url}/cds-services/trial-matching",
                f"{server.url}/cds-services/_bench/noop",
            )
            _time(session, service, 5)
            _time(session, noop, 5)
            block = max(1, n // 10)
            while len(ours) < n:
                base += _time(session, noop, block)[0]
                got, cards = _time(session, service, block)
                ours += got
        finally:
            server.stop()
    return base, ours, cards


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--scale", type=int, default=10)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    if not CORPUS.exists():
        sys.exit(f"development corpus not found at {CORPUS}")
    encoder = MemoEncoder()
    rows = []
    for scale in (1, args.scale):
        trials = corpus(scale)
        start = time.perf_counter()
        base, ours, cards = run(trials, encoder, args.requests)
        rows.append((len(trials), base, ours, cards, time.perf_counter() - start))
    print(
        f"trial-matching patient-view latency, loopback HTTP, {args.requests} requests each (JWT off, both)"
    )
    head = ("trials", "no-op p50", "p95", "ours p50", "p95", "p50 ratio", "p95 ratio", "cards")
    print("".join(f"{h:>{w}}" for h, w in zip(head, (7, 11, 9, 11, 9, 11, 11, 7), strict=True)))
    for size, base, ours, cards, _ in rows:
        print(f"{size:>7}{p50_p95(base)}{p50_p95(ours)}"
              f"{statistics.median(ours) / statistics.median(base):>10.1f}x"
              f"{percentile(ours, 0.95) / percentile(base, 0.95):>10.1f}x{cards:>7}")  # fmt: skip
    small, large = rows[0], rows[-1]
    growth = statistics.median(large[2]) / statistics.median(small[2])
    print(f"corpus ×{large[0] / small[0]:.1f} → service p50 ×{growth:.2f}")
    worst = percentile(large[2], 0.95)
    print(
        f"aim p95 < 200 ms at {large[0]} trials: {'met' if worst < 200 else 'NOT met'} (p95 {worst:.1f} ms)"
    )


if __name__ == "__main__":
    main()

"""Note → query at scale: the TREC 2021 / 2022 clinical-trials patient notes through the profile step.

    .venv/bin/python bench/trials_notes.py [--limit N]

For every note: ``clinical.patient_profile.profile_from_text`` (age and sex from the wording, findings
from the shared clinical NLP with ConText negation / family / history, query without the negated
mentions). Prints throughput (notes/s, p50/p95 per note) against a baseline measured in the same run
(tokenising the note for BM25 only), and coverage: notes with an age, a sex, at least one present
finding, at least one negated finding kept out of the query, and the query/note length ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import p50_p95  # noqa: E402
from clinical.patient_profile import profile_from_text  # noqa: E402
from knowledge.trials.index import tokenize  # noqa: E402

NOTES = Path(__file__).resolve().parents[2] / "shared" / "data" / "trials/trialgpt-patients"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="notes per collection (0 = all)")
    args = parser.parse_args()
    rows: list[tuple[str, str, str]] = []
    for path in sorted(NOTES.glob("*/queries.jsonl")):
        lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        rows += [(path.parent.name, r["_id"], r["text"]) for r in lines[: args.limit or None]]
    if not rows:
        sys.exit(f"no notes under {NOTES}")
    profile_from_text("warm up: a 40-year-old man denies chest pain.")  # load the NLP pipeline once
    base_ms: list[float] = []
    ours_ms: list[float] = []
    stats = {"age": 0, "sex": 0, "present": 0, "negated_dropped": 0}
    ratio: list[float] = []
    for _, _, text in rows:
        start = time.perf_counter()
        tokenize(text)
        base_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        p = profile_from_text(text)
        ours_ms.append((time.perf_counter() - start) * 1000)
        stats["age"] += p.age_years is not None
        stats["sex"] += p.sex is not None
        stats["present"] += any(not (f.negated or f.family) for f in p.findings)
        stats["negated_dropped"] += any(f.negated for f in p.findings) and len(p.query) < len(text)
        ratio.append(len(p.query) / max(1, len(text)))
    n = len(rows)
    total_s = sum(ours_ms) / 1000
    mean_chars = statistics.mean(len(r[2]) for r in rows)
    print(f"note → query over {n} TREC 2021/2022 patient notes (mean {mean_chars:.0f} chars)")
    print(f"{'step':<22}{'p50':>9}{'p95':>9}{'notes/s':>10}")
    print(f"{'baseline: tokenise':<22}{p50_p95(base_ms, width=7)}{n / max(sum(base_ms) / 1000, 1e-9):>10.0f}")
    print(f"{'profile_from_text':<22}{p50_p95(ours_ms, width=7)}"
          f"{n / total_s:>10.1f}")  # fmt: skip
    slower = statistics.median(ours_ms) / max(statistics.median(base_ms), 1e-9)
    print(f"ratio p50 profile/baseline: {slower:.0f}x")
    print("coverage: " + ", ".join(f"{k} {v}/{n} ({v / n:.0%})" for k, v in stats.items()))
    print(f"query length / note length: median {statistics.median(ratio):.2f}")


if __name__ == "__main__":
    main()

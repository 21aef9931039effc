"""Query latency of the knowledge index: hybrid / dense / BM25 search including query encoding,
against the raw chromadb vector lookup (pre-encoded query) measured in the same run.

    .venv/bin/python bench/knowledge_latency.py [--knowledge-dir DIR] [--release ID] [--reps 1]

Defaults to the configured knowledge folder and its published release. Queries are the golden-set
questions (tests/knowledge/golden); the query-vector cache is cleared before every search, so each
timing includes encoding the query with all-MiniLM-L6-v2 on the CPU.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench._common import percentile  # noqa: E402
from evidence_cds.settings import load_settings  # noqa: E402
from knowledge.evaluation import load_golden  # noqa: E402
from knowledge.librarian.config import knowledge_config  # noqa: E402
from knowledge.releases import read_pointer  # noqa: E402
from knowledge.retrieval import Retriever, clear_query_cache, open_release_retriever  # noqa: E402

GOLDEN = ROOT / "tests" / "knowledge" / "golden"


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--knowledge-dir", type=Path)
    parser.add_argument("--release")
    parser.add_argument("--reps", type=int, default=1)
    args = parser.parse_args()
    overrides = {"knowledge_dir": args.knowledge_dir} if args.knowledge_dir else None
    config = knowledge_config(load_settings(overrides))
    pointer = read_pointer(config)
    release = args.release or (pointer.release_id if pointer else None)
    if release is None:
        raise SystemExit(f"no published release in {config.knowledge_dir}; pass --release")
    retriever: Retriever = open_release_retriever(config, release)
    queries = [q.question for q in load_golden(GOLDEN).questions]
    print(f"release {release}: {retriever.manifest.n_documents} documents, {len(retriever.records)} chunks;")
    print(f"{len(queries)} queries x {args.reps} reps, k=5; cpu threads={os.cpu_count()}")
    for q in queries[:10]:  # warm-up: model load, chromadb segment load, allocator
        retriever.search(q, mode="hybrid")
    vectors = {q: retriever.encode(q, use_cache=False) for q in queries}

    samples: dict[str, list[float]] = {name: [] for name in ("raw", "encode", "bm25", "dense", "hybrid")}
    for _ in range(args.reps):
        for q in queries:
            samples["raw"] += timed(lambda q=q: retriever.dense_ids(vectors[q], 5), 1)
            samples["encode"] += timed(lambda q=q: retriever.encode(q, use_cache=False), 1)
            for mode in ("bm25", "dense", "hybrid"):
                clear_query_cache()
                samples[mode] += timed(lambda q=q, mode=mode: retriever.search(q, k=5, mode=mode), 1)

    raw_p50, raw_p95 = percentile(samples["raw"], 0.5), percentile(samples["raw"], 0.95)
    print(f"\n{'measure':<34}{'p50 ms':>9}{'p95 ms':>9}{'p50 / raw':>11}{'p95 / raw':>11}")
    labels = {
        "raw": "raw vector lookup (chromadb, k=5)",
        "encode": "query encoding alone",
        "bm25": "bm25 search (+encode for threshold)",
        "dense": "dense search incl. encoding",
        "hybrid": "hybrid search incl. encoding",
    }
    for name, label in labels.items():
        p50, p95 = percentile(samples[name], 0.5), percentile(samples[name], 0.95)
        print(f"{label:<34}{p50:>9.2f}{p95:>9.2f}{p50 / raw_p50:>10.1f}x{p95 / raw_p95:>10.1f}x")
    mean = statistics.fmean(samples["hybrid"])
    verdict = "meets" if percentile(samples["hybrid"], 0.95) < 40 else "misses"
    print(f"\nhybrid mean {mean:.2f} ms; p95 {verdict} the 40 ms aim (load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()

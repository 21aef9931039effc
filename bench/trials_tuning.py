"""Leave-one-query-out choice of the trial-matching weights on the SIGIR-2016 development split.

    .venv/bin/python bench/trials_tuning.py [--data DIR]

Two sweeps, each over a small grid fixed before looking at results, scored by nDCG@10 per query:

* pseudo-relevance feedback of ``hybrid+prf``: seed trials {3, 5, 10} × expansion terms {10, 20, 40} ×
  Rocchio weight of the seeds' centroid {0.25, 0.5, 1.0};
* the weight of the prose population penalty in ``hybrid+elig`` {0, 0.02, 0.05, 0.1, 0.2, 0.5, 1}.

For every held-out query the setting with the best mean over the other eight is applied to it; the
mean of those held-out scores is the LOO figure, printed with the setting each fold chose. The
shipped constants (``knowledge.trials.matching``) are the settings the folds agree on.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from collections.abc import Callable, Hashable, Sequence
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from clinical.patient_profile import profile_from_text  # noqa: E402
from knowledge.embeddings import get_embedder  # noqa: E402
from knowledge.trials.eval_run import load_inputs  # noqa: E402
from knowledge.trials.evaluation import ndcg_at  # noqa: E402
from knowledge.trials.index import query_pieces  # noqa: E402
from knowledge.trials.matching import PRF_DOCS, MatchOptions, match_trials  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "trials"
Scores = dict[Hashable, dict[str, float]]


def leave_one_out(scores: Scores) -> tuple[float, list[Hashable]]:
    """Mean held-out nDCG when each query is scored under the setting best on the others."""
    queries = list(next(iter(scores.values())))
    held, chosen = 0.0, []
    for q in queries:
        best = max(scores, key=lambda s: sum(v for k, v in scores[s].items() if k != q))
        chosen.append(best)
        held += scores[best][q]
    return held / len(queries), chosen


def report(name: str, scores: Scores) -> None:
    for setting, per in scores.items():
        print(f"  {name} {setting}: nDCG@10 {sum(per.values()) / len(per):.3f}")
    loo, chosen = leave_one_out(scores)
    print(f"{name}: LOO nDCG@10 {loo:.3f}; folds chose {chosen}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    encoder = get_embedder()
    d = args.data
    inputs = load_inputs(d / "dev_corpus.jsonl", d / "dev_queries.jsonl", d / "dev_qrels.tsv", encoder)
    profiles = {q: profile_from_text(t, source_id=q) for q, t in inputs.queries.items()}
    vectors = {q: encoder.encode(query_pieces(p.query)) for q, p in profiles.items()}

    def per_query(run: Callable[[str], list[str]]) -> dict[str, float]:
        return {q: ndcg_at(run(q), inputs.qrels[q]) for q in profiles if q in inputs.qrels}

    index = inputs.index
    prf: Scores = {}
    for docs, terms, weight in itertools.product((3, 5, 10), (10, 20, 40), (0.25, 0.5, 1.0)):
        prf[(docs, terms, weight)] = per_query(
            lambda q, d=docs, t=terms, w=weight: [
                index.trials[h.index].nct_id
                for h in index.search(
                    profiles[q].query, vectors[q], prf_docs=d, prf_terms=t, prf_dense_weight=w
                )
            ]
        )
    report("prf (docs, terms, dense weight)", prf)
    base = MatchOptions(mode="hybrid", recruiting_only=False, candidates=100, depth=30, prf_docs=PRF_DOCS)
    population: Scores = {}
    for weight in (0.0, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0):
        opts = replace(base, population_weight=weight)
        population[weight] = per_query(
            lambda q, o=opts: [
                m.trial.nct_id for m in match_trials(index, profiles[q], profiles[q].query, vectors[q], o)
            ]
        )
    report("population weight", population)


if __name__ == "__main__":
    main()

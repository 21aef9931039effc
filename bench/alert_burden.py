"""Alert burden of the drug-interaction service on 150 Synthea patients, against a naive baseline.

    .venv/bin/python bench/alert_burden.py [--patients DIR]

Replays order-sign for every MedicationRequest in the Synthea bundles (default
../shared/data/synthea-r4) as if it were being newly ordered, against the patient's other
MedicationRequests then active (status active, or authored in the 100 days before it, the PDDI
guide's look-back), with the conditions and observations recorded by then. The decision is the
service's own path (``interaction_record`` → ``find_interactions`` → one card per finding), run
in-process with the clock set to the order's date (over HTTP the service reads the wall clock, so
age, lab windows and look-backs would be evaluated in the wrong year).

Naive baseline, computed in the same run: every KB entry matching any ingredient pair of the new order
and an active medication fires, at its source severity (ONC high-priority and NDF-RT Critical →
critical, NDF-RT Significant → warning, ONC non-interruptive → info), no context, no de-duplication.

Prints cards per 100 orders by indicator for both, the ratios, and how many ONC high-priority
interactions the service missed (no card at all).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cds_services.services.drug_interaction_record import interaction_record  # noqa: E402
from clinical.resources import parse_strict, to_datetime  # noqa: E402
from knowledge.drugs.context_rules import default_rulebook  # noqa: E402
from knowledge.drugs.interactions import find_interactions  # noqa: E402
from knowledge.drugs.kb import InteractionKB, SourceSeverity, load_kb  # noqa: E402
from knowledge.drugs.vocabulary import load_vocabulary  # noqa: E402

DEFAULT_DIR = ROOT.parent / "shared" / "data" / "synthea-r4"
LOOKBACK = timedelta(days=100)
NAIVE_INDICATOR = {
    SourceSeverity.high_priority: "critical",
    SourceSeverity.critical: "critical",
    SourceSeverity.significant: "warning",
    SourceSeverity.low: "info",
}
INDICATORS = ("critical", "warning", "info")


def load_patients(folder: Path) -> list[list[dict[str, Any]]]:
    patients = []
    for path in sorted(folder.glob("*.json.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            bundle = json.load(fh)
        patients.append([e["resource"] for e in bundle.get("entry", [])])
    return patients


def _when(r: dict[str, Any]) -> datetime | None:
    for key in ("authoredOn", "effectiveDateTime", "issued", "onsetDateTime", "recordedDate"):
        if r.get(key):
            return to_datetime(r[key])
    return None


def replay(patients: list[list[dict[str, Any]]], kb: InteractionKB) -> dict[str, Any]:
    vocab, rules = load_vocabulary(), default_rulebook()
    ours: Counter[str] = Counter()
    naive: Counter[str] = Counter()
    orders = missed = onc_orders = tolerated = 0
    decide_ms: list[float] = []
    by_entry: Counter[str] = Counter()
    for resources in patients:
        patient = next((r for r in resources if r["resourceType"] == "Patient"), None)
        if patient is None:  # practitioner / organisation bundles
            continue
        requests = sorted(
            (r for r in resources if r["resourceType"] == "MedicationRequest" and _when(r)),
            key=lambda r: _when(r) or datetime.min.replace(tzinfo=UTC),
        )
        history = [r for r in resources if r["resourceType"] in {"Condition", "Observation"}]
        # Parse once per patient (R4B models pass through the record builder unparsed again).
        parsed = {id(r): parse_strict(r) for r in [patient, *history]}
        for i, order in enumerate(requests):
            t = _when(order)
            assert t is not None
            active = []
            for other in requests[:i]:
                when = _when(other)
                if other["status"] == "active" or (when is not None and when >= t - LOOKBACK):
                    active.append({**other, "status": "active"})
            known = [r for r in history if (_when(r) or t) <= t]
            draft = {**order, "status": "draft"}
            started = time.perf_counter()
            bundle = {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": r} for r in active],
            }
            context = [parsed[id(r)] for r in [patient, *known]]
            record = interaction_record(
                {"record": bundle, **{str(n): c for n, c in enumerate(context)}}, [draft], vocab, now=t
            )
            findings = find_interactions(record, kb=kb, rules=rules, vocab=vocab, now=t)
            decide_ms.append((time.perf_counter() - started) * 1000)
            shown = [f for f in findings if f.indicator is not None]
            ours.update(f.indicator for f in shown if f.indicator)
            by_entry.update(
                f"{f.indicator} {f.entry.id}{' (tolerated)' if f.tolerated else ''}" for f in shown
            )
            tolerated += sum(1 for f in shown if f.tolerated)
            shown_entries = {f.entry.id for f in shown}
            orders += 1
            # Naive: every entry of every ingredient pair with every active medication.
            new = record.draft_medications[0]
            onc_here: set[str] = set()
            for other_med in record.medications:
                for a in new.ingredient_ids:
                    for b in other_med.ingredient_ids:
                        for entry in kb.lookup(a, b):
                            naive[NAIVE_INDICATOR[entry.severity]] += 1
                            if entry.severity is SourceSeverity.high_priority:
                                onc_here.add(entry.id)
            if onc_here:
                onc_orders += 1
                missed += len(onc_here - shown_entries)
    return {
        "orders": orders,
        "ours": ours,
        "naive": naive,
        "onc_orders": onc_orders,
        "onc_missed": missed,
        "tolerated": tolerated,
        "decide_ms": decide_ms,
        "by_entry": by_entry,
    }


def _per100(n: int, orders: int) -> float:
    return 100.0 * n / orders if orders else 0.0


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--verbose", action="store_true", help="cards by KB entry")
    args = parser.parse_args()
    started = time.perf_counter()
    patients = load_patients(args.patients)
    result = replay(patients, load_kb())
    orders, ours, naive = result["orders"], result["ours"], result["naive"]
    print(
        f"alert burden: {len(patients)} patients, {orders} MedicationRequests replayed as new orders "
        "at order-sign"
    )
    print(f"{'indicator':<12}{'ours /100':>12}{'naive /100':>12}{'ratio naive/ours':>18}")
    for ind in INDICATORS:
        o, n = _per100(ours[ind], orders), _per100(naive[ind], orders)
        ratio = f"{n / o:.1f}x" if o else ("inf" if n else "-")
        print(f"{ind:<12}{o:>12.2f}{n:>12.2f}{ratio:>18}")
    o_int, n_int = ours["critical"], naive["critical"]
    o_int2, n_int2 = ours["critical"] + ours["warning"], naive["critical"] + naive["warning"]
    o_all, n_all = sum(ours.values()), sum(naive.values())
    print(
        f"{'all cards':<12}{_per100(o_all, orders):>12.2f}{_per100(n_all, orders):>12.2f}"
        f"{(f'{n_all / o_all:.1f}x' if o_all else '-'):>18}"
    )
    print(
        f"interruptive (critical): ours {o_int}, naive {n_int} -> "
        f"{(f'{n_int / o_int:.1f}x fewer' if o_int else 'none shown')}"
    )
    print(
        f"critical+warning:        ours {o_int2}, naive {n_int2} -> "
        f"{(f'{n_int2 / o_int2:.1f}x fewer' if o_int2 else 'none shown')}"
    )
    print(
        f"ONC high-priority: {result['onc_orders']} orders with one; "
        f"missed by the service: {result['onc_missed']}"
    )
    print(f"cards on already-tolerated pairs (downgraded per policy): {result['tolerated']}")
    if args.verbose:
        for key, n in sorted(result["by_entry"].items()):
            print(f"  {n:4d}  {key}")
    ms = result["decide_ms"]
    print(
        f"decision time per order: p50 {_pct(ms, 0.5):.2f} ms, p95 {_pct(ms, 0.95):.2f} ms; "
        f"total run {time.perf_counter() - started:.1f} s"
    )


if __name__ == "__main__":
    main()

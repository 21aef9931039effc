"""Sandbox EHR load benchmark: time and peak memory to load a folder of FHIR bundles, and FHIR search
latency over loopback HTTP once loaded.

    .venv/bin/python bench/sandbox_load.py [--patients DIR] [--runs N] [--requests N]

Default folder: ../shared/data/synthea-r4 (150 gzipped Synthea transaction bundles). Each load runs in
a fresh process so its peak RSS is its own. Baseline in the same run: reading + JSON-parsing the same
files without building the store (the floor any loader pays). Search latency is compared with
``/healthz`` on the same server (the HTTP + Flask floor).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import percentile as _pct  # noqa: E402

DEFAULT_DIR = ROOT.parent / "shared" / "data" / "synthea-r4"


def _child(mode: str, folder: Path) -> None:
    import gzip

    from sandbox.store import PatientStore, iter_bundle_files

    start = time.perf_counter()
    if mode == "store":
        store = PatientStore.from_folder(folder)
        extra = {"patients": len(store.patients()), "resources": store.count()}
    else:
        bundles = []
        for path in iter_bundle_files(folder):
            opener = gzip.open if path.name.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8") as fh:
                bundles.append(json.load(fh))
        extra = {"bundles": len(bundles)}
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mib": peak_mib, **extra}))


def _run(mode: str, folder: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--patients", str(folder)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _http_latency(folder: Path, n: int) -> None:
    import logging

    import requests

    from sandbox.app import create_sandbox_app
    from tests.support.live_server import LiveServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no per-request access log
    server = LiveServer()
    app = create_sandbox_app(
        {"base_url": server.url, "patients": folder, "state_dir": ROOT / "instance" / "bench"}
    )
    server.start(app)
    try:
        store = app.extensions["sandbox_store"]
        patients = [p["id"] for p in store.patients()]
        mint = app.extensions["sandbox_mint_access_token"]
        scope = "patient/Observation.rs patient/MedicationRequest.rs patient/Medication.rs"
        tokens = {pid: mint(pid, scope, "evidence-cds", "generic")["access_token"] for pid in patients}
        http = requests.Session()

        def timed(url: str, token: str | None, params: dict[str, str] | None = None) -> float:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            t = time.perf_counter()
            resp = http.get(url, headers=headers, params=params, timeout=30)
            resp.raise_for_status()
            return (time.perf_counter() - t) * 1000

        base_ms = [timed(f"{server.url}/healthz", None) for _ in range(n)]
        obs_ms, mr_ms = [], []
        for i in range(n):
            pid = patients[i % len(patients)]
            obs_ms.append(
                timed(
                    f"{server.url}/fhir/Observation",
                    tokens[pid],
                    {"patient": pid, "category": "laboratory", "_count": "50"},
                )
            )
            mr_ms.append(
                timed(
                    f"{server.url}/fhir/MedicationRequest",
                    tokens[pid],
                    {"patient": pid, "status": "active", "_include": "MedicationRequest:medication"},
                )
            )
        b50 = statistics.median(base_ms)
        print(f"\nHTTP latency over loopback, {n} requests each (ms):")
        print(f"  /healthz (baseline)                 p50 {b50:7.2f}  p95 {_pct(base_ms, 0.95):7.2f}")
        for name, vals in (("Observation?patient&category", obs_ms), ("MedicationRequest?…&_include", mr_ms)):
            p50 = statistics.median(vals)
            print(f"  {name:<35} p50 {p50:7.2f}  p95 {_pct(vals, 0.95):7.2f}  ({p50 / b50:.1f}x baseline)")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--child", choices=["store", "parse"])
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.patients)
        return
    if not args.patients.is_dir():
        sys.exit(f"no such folder: {args.patients}")
    files = sorted(p for p in args.patients.iterdir() if p.name.endswith((".json", ".json.gz")))
    print(f"Loading {len(files)} bundles from {args.patients} ({args.runs} runs, fresh process each)")
    store_runs = [_run("store", args.patients) for _ in range(args.runs)]
    parse_runs = [_run("parse", args.patients) for _ in range(args.runs)]
    s_sec = [r["seconds"] for r in store_runs]
    p_sec = [r["seconds"] for r in parse_runs]
    s_mem = max(r["peak_mib"] for r in store_runs)
    p_mem = max(r["peak_mib"] for r in parse_runs)
    print(f"  patients {store_runs[0]['patients']:.0f}, resources {store_runs[0]['resources']:.0f}")
    print(
        f"  read+parse only (baseline)  p50 {statistics.median(p_sec):6.2f} s  p95 {_pct(p_sec, 0.95):6.2f} s"
        f"  peak {p_mem:7.1f} MiB"
    )
    print(
        f"  PatientStore.from_folder    p50 {statistics.median(s_sec):6.2f} s  p95 {_pct(s_sec, 0.95):6.2f} s"
        f"  peak {s_mem:7.1f} MiB"
    )
    print(
        f"  ratio store/baseline: time {statistics.median(s_sec) / statistics.median(p_sec):.2f}x, "
        f"memory {s_mem / p_mem:.2f}x"
    )
    if args.requests > 0:
        _http_latency(args.patients, args.requests)


if __name__ == "__main__":
    main()

"""Load benchmark of a CDS Hooks call under gunicorn, against a no-op endpoint of the same app.

Starts ``evidence-cds serve --workers 2`` on a loopback port (fresh instance folder, SQLite audit),
then drives it from a thread pool: ``record-summary`` (patient-view) with the full prefetch of an
authored demo patient and a freshly signed ES384 JWT per call (JWT verification, prefetch parsing
with R4B, the decision and the audit write all included) — once with the same body every time (a
patient's repeated hook calls: the worker's parsed-resource cache hits) and once with resources that
change on every call ("fresh data": every resource validated) — versus
``POST /cds-services/_bench/noop`` with the same body (Flask + gunicorn + JSON parse only). The
targets are measured in interleaved blocks so load from elsewhere on the machine hits all alike.
Prints p50/p95/p99, throughput, the workers' CPU per request, and the hook/no-op ratios.

    .venv/bin/python bench/cds_load.py [--requests 600] [--concurrency 4] [--workers 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from joserfc import jwt
from joserfc.jwk import ECKey

REPO = Path(__file__).resolve().parent.parent
ISS = "https://bench-ehr.example"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _payload(patient: str) -> dict[str, Any]:
    bundle = json.loads((REPO / "sandbox" / "patients" / f"{patient}.json").read_text())
    res = [e["resource"] for e in bundle["entry"]]

    def searchset(items: list[dict[str, Any]]) -> dict[str, Any]:
        return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in items]}

    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/demo-practitioner", "patientId": patient},
        "prefetch": {
            "patient": next(r for r in res if r["resourceType"] == "Patient"),
            "medications": searchset([r for r in res if r["resourceType"] == "MedicationRequest"]),
            "labs": searchset([r for r in res if r["resourceType"] == "Observation"]),
        },
    }


def _distinct_bodies(template: dict[str, Any]) -> Callable[[], bytes]:
    """Bodies whose resources differ on every call (a new ``meta.versionId``): no parse-cache hits."""
    counter = itertools.count()
    lock = threading.Lock()

    def make() -> bytes:
        with lock:
            n = next(counter)
        body = json.loads(json.dumps(template))
        body["hookInstance"] = str(uuid.uuid4())
        for value in body["prefetch"].values():
            for res in [e["resource"] for e in value.get("entry", [])] or [value]:
                res["meta"] = {"versionId": str(n)}
        return json.dumps(body).encode()

    return make


def _start_server(
    port: int, workers: int, threads: int, key: ECKey, instance: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "EVIDENCE_CDS_INSTANCE_PATH": str(instance),
        "EVIDENCE_CDS_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "EVIDENCE_CDS_SECRET_KEY": "bench",
        "EVIDENCE_CDS_LOG_LEVEL": "WARNING",
        "EVIDENCE_CDS_CDS_BENCH_NOOP": "true",
        "EVIDENCE_CDS_CDS_SERVICE_MODULES": json.dumps(["cds_services.services.record_summary"]),
        "EVIDENCE_CDS_CDS_TRUSTED_CLIENTS": json.dumps(
            [{"iss": ISS, "jwks": {"keys": [key.as_dict(private=False)]}}]
        ),
        "PYTHONPATH": str(REPO),
    }
    cmd = [
        sys.executable,
        "-m",
        "evidence_cds.cli",
        "serve",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--bind",
        f"127.0.0.1:{port}",
    ]
    log = (instance.parent / "serve.log").open("wb")
    return subprocess.Popen(cmd, cwd=instance.parent, env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait_up(url: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/cds-services", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.3)
    raise SystemExit("server did not start")


def _workers_cpu_s(master_pid: int) -> float:
    """User+system CPU seconds of the gunicorn workers so far (Linux /proc; 0 elsewhere).

    CPU per request does not stretch when other processes load the machine, unlike wall latency,
    so it is the fairer hook/no-op comparison on a shared box.
    """
    try:
        children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in children:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        return total
    except (OSError, ValueError):
        return 0.0


class Target:
    def __init__(self, name: str, url: str, body: Callable[[], bytes], key: ECKey | None, aud: str) -> None:
        self.name, self.url, self.body, self.key, self.aud = name, url, body, key, aud
        self.latencies: list[float] = []
        self.busy_s = 0.0
        self.cpu_s = 0.0
        self.errors = 0
        self._local = threading.local()

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "s"):
            self._local.s = requests.Session()
        session: requests.Session = self._local.s
        return session

    def once(self) -> None:
        headers = {"Content-Type": "application/json"}
        if self.key is not None:
            now = int(time.time())
            claims = {
                "iss": ISS,
                "sub": "bench",
                "aud": self.aud,
                "iat": now,
                "exp": now + 120,
                "jti": str(uuid.uuid4()),
            }
            tok = jwt.encode({"alg": "ES384", "kid": self.key.kid}, claims, self.key, algorithms=["ES384"])
            headers["Authorization"] = f"Bearer {tok}"
        body = self.body()
        t0 = time.perf_counter()
        resp = self._session().post(self.url, data=body, headers=headers, timeout=30)
        elapsed = time.perf_counter() - t0
        if resp.status_code != 200:
            self.errors += 1
        self.latencies.append(elapsed * 1000)


def _block(target: Target, n: int, pool: ThreadPoolExecutor, master_pid: int) -> None:
    # The hook's audit row is committed just after its answer is sent: let the last ones land
    # before switching targets so their CPU is charged to the hook, not to the no-op.
    time.sleep(0.05)
    cpu0, t0 = _workers_cpu_s(master_pid), time.perf_counter()
    list(pool.map(lambda _: target.once(), range(n)))
    target.busy_s += time.perf_counter() - t0
    time.sleep(0.05)
    target.cpu_s += _workers_cpu_s(master_pid) - cpu0


def _server_latencies(db_path: Path, last: int) -> list[float]:
    """The app's own latency_ms of the last ``last`` audited calls (excludes HTTP and queueing)."""
    import sqlite3

    if not db_path.exists():
        return []
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute(
            "SELECT latency_ms FROM cds_audit WHERE outcome = 'ok' ORDER BY id DESC LIMIT ?", (last,)
        ).fetchall()
    return [float(r[0]) for r in rows]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=600, help="measured requests per target")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    ap.add_argument("--patient", default="demo-warfarin")
    ap.add_argument("--block", type=int, default=50, help="requests per interleaved block")
    args = ap.parse_args()

    key = ECKey.generate_key("P-384", parameters={"kid": "bench-1"})
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="cds-load-") as tmp:
        proc = _start_server(port, args.workers, args.threads, key, Path(tmp) / "instance")
        try:
            _wait_up(base)
            template = _payload(args.patient)
            payload = json.dumps(template).encode()
            url = f"{base}/cds-services/record-summary"
            hook = Target("record-summary", url, lambda: payload, key, url)
            fresh = Target("  fresh data", url, _distinct_bodies(template), key, url)
            noop = Target("no-op", f"{base}/cds-services/_bench/noop", lambda: payload, None, "")
            check = requests.post(
                hook.url, data=payload, timeout=10, headers={"Content-Type": "application/json"}
            )
            assert check.status_code == 401, "the hook endpoint must demand a JWT"
            with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
                for t in (noop, hook, fresh):  # warm-up: imports, first parses, connection setup
                    _block(t, 40, pool, proc.pid)
                    t.latencies.clear()
                    t.busy_s, t.cpu_s, t.errors = 0.0, 0.0, 0
                done = 0
                while done < args.requests:
                    n = min(args.block, args.requests - done)
                    _block(noop, n, pool, proc.pid)
                    _block(hook, n, pool, proc.pid)
                    _block(fresh, n, pool, proc.pid)
                    done += n
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        server_ms = _server_latencies(Path(tmp) / "instance" / "evidence_cds.db", 2 * args.requests)
    print(
        f"CDS Hooks load: gunicorn {args.workers} workers x {args.threads} thread(s), client concurrency "
        f"{args.concurrency}, {args.requests} requests per target, body {len(payload) / 1024:.1f} KiB "
        f"({args.patient} full prefetch), {os.cpu_count()} CPUs"
    )
    print(
        f"{'target':<16}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'req/s':>9}{'cpu ms/req':>11}"
        f"{'errors':>8}"
    )
    rows = {}
    for t in (noop, hook, fresh):
        p50, p95, p99 = (_pct(t.latencies, q) for q in (50, 95, 99))
        rps = len(t.latencies) / t.busy_s if t.busy_s else 0.0
        cpu = t.cpu_s * 1000 / len(t.latencies) if t.latencies else 0.0
        rows[t.name] = (p50, p95, p99, rps, cpu)
        print(
            f"{t.name:<16}{p50:>9.1f}{p95:>9.1f}{p99:>9.1f}{statistics.fmean(t.latencies):>9.1f}{rps:>9.1f}"
            f"{cpu:>11.2f}{t.errors:>8}"
        )
    if server_ms:
        p50, p95, p99 = (_pct(server_ms, q) for q in (50, 95, 99))
        print(
            f"{'  in-app':<16}{p50:>9.1f}{p95:>9.1f}{p99:>9.1f}{statistics.fmean(server_ms):>9.1f}"
            "   (hook calls: audited latency inside the app)"
        )
    n = rows["no-op"]
    for name, label in (("record-summary", "hook/no-op"), ("  fresh data", "fresh/no-op")):
        h = rows[name]
        print(
            f"ratio {label}: p50 {h[0] / n[0]:.2f}x  p95 {h[1] / n[1]:.2f}x  p99 {h[2] / n[2]:.2f}x  "
            f"throughput {h[3] / n[3]:.2f}x  server CPU/request {h[4] / max(n[4], 1e-9):.2f}x"
        )
    print(f"machine load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if hook.errors or noop.errors or fresh.errors:
        raise SystemExit("errors during the run")


if __name__ == "__main__":
    main()

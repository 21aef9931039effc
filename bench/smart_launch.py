"""SMART launch benchmark: launch → first meaningful paint, and record assembly, for a large Synthea patient.

    .venv/bin/python bench/smart_launch.py [--patients DIR] [--runs N] [--patient-id ID]

Runs the product and the sandbox EHR (loaded with ``../shared/data/synthea-r4`` by default) on loopback
ports, picks the patient with the most Observations from the folder's ``manifest.csv`` (unless given),
and measures, per run:

* **baseline — raw FHIR reads**: the same six searches/reads the record view needs, in parallel, raw
  JSON with ``next``-link paging, no parsing (the floor any client pays);
* **launch → first meaningful paint**: ``GET /app/launch?iss&launch`` → authorize → callback → the app
  page whose HTML holds the patient's record (what the clinician first sees; evidence loads after);
* **record view**: reloading the app page (FHIR reads + R4B parsing + ``PatientRecord`` + render);
* **record assembly**: ``build_patient_record`` over the already-parsed resources, in process;
* **evidence panel**: the htmx partial that runs every service in-process (after the first paint);
* **chromium**: the same launch in Debian chromium until the lab table is painted (``--browser-runs``).

Prints p50/p95 in ms and each figure's ratio to the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import csv
import logging
import re
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DIR = ROOT.parent / "shared" / "data" / "synthea-r4"
COOKIE = "evcds_browser"


class _Server:
    """A WSGI app on a loopback ephemeral port (bound before the app exists, so both can know URLs)."""

    def __init__(self) -> None:
        self.app: Any = None
        self.httpd = make_server("127.0.0.1", 0, self, threaded=True)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)

    def start(self, app: Any) -> None:
        import threading

        self.app = app
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def _largest_patient(folder: Path) -> str:
    """The Patient id of the bundle with the most Observations (per the folder's manifest)."""
    import gzip
    import json

    with (folder / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    best = max(rows, key=lambda r: int(r["n_Observation"] or 0))
    with gzip.open(folder / best["file"], "rt", encoding="utf-8") as fh:
        bundle = json.load(fh)
    pid = next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    counts = f"{best['n_Observation']} Observations, {best['n_MedicationRequest']} MedicationRequests"
    print(f"patient: the largest bundle of the folder ({counts})")
    return str(pid)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _launch(app_url: str, launch_src: str) -> tuple[float, str, str]:
    """One EHR launch over HTTP; returns (seconds to the app page, page URL, browser cookie)."""
    http = requests.Session()
    cookie = ""
    started = time.perf_counter()
    url = launch_src
    for _ in range(10):
        headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie and url.startswith(app_url) else {}
        resp = http.get(url, headers=headers, allow_redirects=False, timeout=60)
        m = re.search(rf"{COOKIE}=([^;]+)", resp.headers.get("Set-Cookie", ""))
        if m:
            cookie = m.group(1)
        if resp.status_code in (302, 303):
            url = urljoin(url, resp.headers["Location"])
            continue
        refresh = re.search(r'http-equiv="refresh" content="0;url=([^"]+)"', resp.text)
        if refresh:  # the "opening the record" page
            url = urljoin(url, refresh.group(1))
            continue
        if resp.status_code != 200 or 'id="panel-labs"' not in resp.text:
            raise SystemExit(f"launch did not reach the app page: {resp.status_code} {url}")
        return time.perf_counter() - started, url, cookie
    raise SystemExit("too many redirects")


def _raw_reads(fhir_base: str, token: str, queries: dict[str, Any], page_cap: int) -> int:
    """The view's queries as raw JSON with paging, in parallel; returns the number of resources."""
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}

    def one(q: Any) -> int:
        if q.read_id:
            session.get(f"{fhir_base}/{q.resource_type}/{q.read_id}", headers=headers, timeout=60).json()
            return 1
        url: str | None = f"{fhir_base}/{q.resource_type}"
        params: dict[str, str] | None = dict(q.params)
        n = pages = 0
        while url and pages < page_cap:
            body = session.get(url, params=params, headers=headers, timeout=60).json()
            params, pages = None, pages + 1
            n += len(body.get("entry") or [])
            url = next((lk["url"] for lk in body.get("link") or [] if lk.get("relation") == "next"), None)
        return n

    with ThreadPoolExecutor(max_workers=6) as pool:
        return sum(pool.map(one, queries.values()))


def _browser_runs(runs: int, launch_src: Any) -> list[float]:
    """Launch → the record's panels painted, in Debian chromium (a real browser's first meaningful paint)."""
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        print("chromium not found: browser rows skipped")
        return []
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
    out: list[float] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), args=[*args, "--no-first-run"])
        for i in range(runs + 1):
            context = browser.new_context(viewport={"width": 1024, "height": 768})
            page = context.new_page()
            started = time.perf_counter()
            page.goto(launch_src())
            page.locator("#panel-labs tbody tr").first.wait_for(state="visible", timeout=30_000)
            if i:  # the first one warms the browser up
                out.append(time.perf_counter() - started)
            context.close()
        browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--patient-id")
    parser.add_argument("--browser-runs", type=int, default=8, help="Chromium launches (0: skip)")
    args = parser.parse_args()
    logging.disable(logging.INFO)

    from clinical.record import build_patient_record
    from evidence_cds import db
    from evidence_cds.app import create_app
    from sandbox.app import create_sandbox_app
    from smart_app.record_view import view_queries
    from smart_app.views import _ingredient_resolver, record_view
    from smart_app.web import smart_state

    patient_id = args.patient_id or _largest_patient(args.patients)
    tmp = Path(tempfile.mkdtemp(prefix="smart-bench-"))
    app_srv, ehr_srv = _Server(), _Server()
    app = create_app(
        {
            "instance_path": tmp / "instance",
            "secret_key": "bench",
            "public_base_url": app_srv.url,
            "ehr_origins": [ehr_srv.url],
            "smart_allowed_issuers": [f"{ehr_srv.url}/fhir"],
            "log_level": "WARNING",
        }
    )
    db.upgrade(app.extensions["settings"].resolved_database_url())
    t0 = time.perf_counter()
    sandbox = create_sandbox_app(
        {
            "base_url": ehr_srv.url,
            "app_base_url": app_srv.url,
            "state_dir": tmp / "sandbox",
            "patients": args.patients,
            "secret_key": "bench",
        }
    )
    print(f"sandbox loaded {args.patients.name} in {time.perf_counter() - t0:.1f} s")
    app_srv.start(app)
    ehr_srv.start(sandbox)
    fhir_base = f"{ehr_srv.url}/fhir"
    launches = sandbox.extensions["sandbox_launches"]
    settings = app.extensions["settings"]

    def launch_src() -> str:
        ctx = launches.create(patient_id, None, "demo-practitioner", "generic")
        return f"{app_srv.url}/app/launch?iss={fhir_base}&launch={ctx.launch_id}"

    # warm-up: one launch (imports, connection pools, vocabulary), not measured
    _, page_url, cookie = _launch(app_srv.url, launch_src())
    _ingredient_resolver()
    sid = page_url.rstrip("/").rsplit("/", 1)[-1]
    queries = view_queries(patient_id, None)

    raw, paint, reload_, assembly, evidence_panel = [], [], [], [], []
    n_resources = 0
    for _ in range(args.runs):
        session = smart_state(app).store.get_session(sid)
        assert session is not None
        t = time.perf_counter()
        n_resources = _raw_reads(fhir_base, session.access_token, queries, settings.smart_fhir_page_cap)
        raw.append(time.perf_counter() - t)

        seconds, page_url, cookie = _launch(app_srv.url, launch_src())
        paint.append(seconds)
        sid = page_url.rstrip("/").rsplit("/", 1)[-1]

        t = time.perf_counter()
        resp = requests.get(page_url, headers={"Cookie": f"{COOKIE}={cookie}"}, timeout=60)
        reload_.append(time.perf_counter() - t)
        assert resp.status_code == 200

        t = time.perf_counter()
        panel = requests.get(f"{page_url}evidence", headers={"Cookie": f"{COOKIE}={cookie}"}, timeout=120)
        evidence_panel.append(time.perf_counter() - t)
        assert panel.status_code == 200

        with app.test_request_context():
            view, _ = record_view(app, sid, cookie)
        t = time.perf_counter()
        build_patient_record(view.resources, resolver=_ingredient_resolver())
        assembly.append(time.perf_counter() - t)

    browser_paint = _browser_runs(args.browser_runs, launch_src) if args.browser_runs else []
    record = view.record
    print(
        f"record: {n_resources} raw entries; {len(record.observations)} observations, "
        f"{len(record.medications)} medications, {len(record.problems)} problems; "
        f"{view.requests_made} HTTP requests; truncated: {view.truncated or 'none'}"
    )
    base50 = statistics.median(raw)
    print(f"\n{'measure':44} {'p50 ms':>8} {'p95 ms':>8} {'p50/baseline':>13}")
    for label, values in [
        ("baseline: raw FHIR reads (parallel, paged)", raw),
        ("launch -> first meaningful paint", paint),
        ("record view (reload: FHIR + parse + render)", reload_),
        ("record assembly (build_patient_record)", assembly),
        ("evidence panel (all services, in-process)", evidence_panel),
        *([("chromium: launch -> record visible", browser_paint)] if browser_paint else []),
    ]:
        p50, p95 = statistics.median(values) * 1000, _pct(values, 0.95) * 1000
        print(f"{label:44} {p50:8.1f} {p95:8.1f} {p50 / (base50 * 1000):12.2f}x")
    print(f"\nruns: {args.runs}")


if __name__ == "__main__":
    main()

"""Robustness sweep: every CDS service, through the real EHR path, over 150 Synthea patients nobody tuned for.

    .venv/bin/python bench/synthea_sweep.py [--patients DIR] [--limit N] [--max-orders K] [--workers W]
                                            [--mutation-patients M] [--dump FILE.jsonl]

Runs the product and the sandbox EHR (loaded with ``../shared/data/synthea-r4`` beside the checkout)
on loopback ports, publishes the starter knowledge release (``prepare_defaults``, as ``make run``
does), then per patient:

* ``GET {ehr}/chart/<id>`` — the EHR chart page (opens the chart session the hooks run in);
* ``POST {ehr}/ehr/<session>/hooks/patient-view`` — the chart's own CDS panel: the sandbox's
  ``CdsClient`` calls every patient-view service in parallel, time-boxed; each error note it shows
  (failed call, invalid card) is a failure;
* ``patient-view`` to every patient-view service, and for each active MedicationRequest re-ordered
  as a draft: ``order-select`` (that draft selected) and ``order-sign`` — each call built the way the
  sandbox's CDS client builds it (its discovery, its ES384 signer, its prefetch from the EHR's store,
  a real ``fhirAuthorization`` token from its authorization server) and POSTed over HTTP, so the raw
  card JSON can be checked.

Prints per service: calls, HTTP status counts, product-side errors (audit ``outcome=error`` and
ERROR log records), cards per call by indicator, p50/p95 latency (ms), calls slower than the EHR's
time box, and card-quality failures (summary ≤ 140 chars, valid indicator, source label, both drugs
named on an interaction card, no definite-diagnosis phrasing on a differential, no passage cited for
other drugs; no patient-view card for a deceased patient). The baseline row is the chart page GET
measured in the same run.

Then an odd-FHIR pass (:mod:`bench.synthea_mutations`) on the ``M`` patients with the most active
medications: the same calls with each mutation applied to the prefetch and draft (codes stripped,
``medicationReference``, unusual units, partial dates, deceased, ~8k observations, odd notes, null
prefetch). Exit status 1 when any call was not 200, a card broke a rule, the audit holds an error,
or the sweep itself crashed; calls over the EHR's time box are counted (``>box``), not failed.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import re
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.synthea_checks import LogTap, Stats, check_card, report  # noqa: E402
from bench.synthea_mutations import MUTATIONS, Mutation  # noqa: E402

DEFAULT_DIR = ROOT.parent / "shared" / "data" / "synthea-r4"


# --- the sweep --------------------------------------------------------------------------------------
class Sweep:
    def __init__(self, sandbox: Any, ehr_url: str, max_orders: int | None, timebox_s: float) -> None:
        from knowledge.drugs.kb import load_kb
        from sandbox.cds_client import load_registration

        self.sandbox = sandbox
        self.ehr_url = ehr_url
        self.fhir_base = f"{ehr_url}/fhir"
        self.max_orders = max_orders
        self.timebox_s = timebox_s
        self.store = sandbox.extensions["sandbox_store"]
        self.signer = sandbox.extensions["sandbox_cds_signer"]
        self.client = sandbox.extensions["sandbox_cds_client"]
        self.sessions = sandbox.extensions["sandbox_chart_sessions"]
        self.registration = load_registration(sandbox.extensions["sandbox_settings"])
        self.mint = sandbox.extensions.get("sandbox_mint_access_token")
        self.services = self.client.discover(refresh=True)
        self.kb = load_kb()
        self.stats: dict[str, Stats] = defaultdict(Stats)
        self.lock = threading.Lock()
        self.http = threading.local()
        self.dump: Any = None

    def _session(self) -> requests.Session:
        if not hasattr(self.http, "s"):
            self.http.s = requests.Session()
        s: requests.Session = self.http.s
        return s

    def _note(
        self, key: str, status: str, ms: float, cards: list[dict[str, Any]], bad: list[str], pid: str
    ) -> None:
        with self.lock:
            st = self.stats[key]
            st.calls += 1
            st.status[status] += 1
            st.latency_ms.append(ms)
            st.slow += ms > self.timebox_s * 1000
            for c in cards:
                st.cards[str(c.get("indicator"))] += 1
            for b in bad:
                st.quality[b] += 1
                if len(st.examples) < 4:
                    st.examples.append(f"{b}: patient {pid[:8]}")

    def open_chart(self, patient_id: str) -> Any:
        """``GET {ehr}/chart/<id>`` (timed as the baseline); the chart session it opened, or ``None``."""
        http = self._session()
        t = time.perf_counter()
        page = http.get(f"{self.ehr_url}/chart/{patient_id}", timeout=60)
        ms = (time.perf_counter() - t) * 1000
        self._note("EHR chart page (baseline)", str(page.status_code), ms, [], [], patient_id)
        m = re.search(r"/ehr/([0-9a-f]{32})/", page.text)
        return self.sessions.get(m.group(1)) if page.status_code == 200 and m else None

    def call(
        self,
        session: Any,
        hook: str,
        draft: dict[str, Any] | None,
        mutate: Mutation | None = None,
        label: str = "",
    ) -> None:
        """Every service of ``hook`` once, the body built as the sandbox's CDS client builds it."""
        from sandbox.ehr_hooks import fhir_authorization
        from sandbox.prefetch import PrefetchContext, build_prefetch

        pid = session.patient_id
        authz = fhir_authorization(session, self.registration, self.mint)
        pctx = PrefetchContext(pid, session.user_id, session.encounter_id)
        for svc in (s for s in self.services if s.hook == hook):
            prefetch = build_prefetch(svc.prefetch, pctx, self.store, self.fhir_base)
            this_draft = draft
            if mutate is not None:
                prefetch, this_draft = mutate(prefetch, draft)
            context: dict[str, Any] = {"userId": session.user_id, "patientId": pid}
            if session.encounter_id:
                context["encounterId"] = session.encounter_id
            if this_draft is not None:
                bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": this_draft}]}
                context["draftOrders"] = bundle
                if hook == "order-select":
                    context["selections"] = [f"MedicationRequest/{this_draft['id']}"]
            body: dict[str, Any] = {
                "hook": hook,
                "hookInstance": str(uuid.uuid4()),
                "fhirServer": self.fhir_base,
                "context": context,
                "prefetch": prefetch,
            }
            if authz:
                body["fhirAuthorization"] = authz
            self._post(svc.id, body, pid, label)

    def _post(self, service_id: str, body: dict[str, Any], pid: str, label: str) -> None:
        url = self.client.service_url(service_id)
        headers = {"Authorization": f"Bearer {self.signer.sign(url)}", "Content-Type": "application/json"}
        data = json.dumps(body)
        with self.lock:
            st = self.stats[f"{service_id} [{label}]" if label else service_id]
            st.max_body = max(st.max_body, len(data))
        t = time.perf_counter()
        try:
            resp = self._session().post(url, data=data, headers=headers, timeout=60)
            status, payload = str(resp.status_code), resp.json() if resp.status_code == 200 else {}
        except requests.Timeout:
            status, payload = "timeout", {}
        except (requests.RequestException, ValueError) as err:
            status, payload = type(err).__name__, {}
        ms = (time.perf_counter() - t) * 1000
        cards = (payload.get("cards") or []) if isinstance(payload, dict) else []
        bad = [b for c in cards for b in check_card(service_id, c, self.kb)]
        if label == "deceased (boolean)" or is_deceased(body):
            bad += [
                f"{service_id} card for a deceased patient" for _ in cards if body["hook"] == "patient-view"
            ]
        key = f"{service_id} [{label}]" if label else service_id
        self._note(key, status, ms, cards, bad, pid)
        if self.dump is not None:
            draft = ((body["context"].get("draftOrders") or {}).get("entry") or [{}])[0].get("resource")
            row = {
                "patient": pid,
                "service": key,
                "status": status,
                "ms": round(ms),
                "draft": draft,
                "cards": cards,
            }
            with self.lock:
                self.dump.write(json.dumps(row) + "\n")

    def active_orders(self, session: Any) -> list[dict[str, Any]]:
        meds = self.store.for_patient(session.patient_id, "MedicationRequest")
        return [reorder_as_draft(r, session) for r in meds if r.get("status") == "active"]

    def ehr_panel(self, session: Any) -> None:
        """The chart's own ``patient-view`` (the sandbox's CdsClient, all services in parallel, time-boxed);
        every error note the CDS panel shows (failed call, invalid card) counts as a failure."""
        url = f"{self.ehr_url}/ehr/{session.id}/hooks/patient-view"
        t = time.perf_counter()
        resp = self._session().post(url, headers={"HX-Request": "true"}, timeout=60)
        ms = (time.perf_counter() - t) * 1000
        notes = re.findall(r'class="cds-error"[^>]*>([^<]+)<', resp.text)
        cards = [
            {"indicator": i}
            for i in re.findall(r'class="cds-card[^"]*" [^>]*data-indicator="(\w+)"', resp.text)
        ]
        self._note("EHR panel patient-view", str(resp.status_code), ms, cards, notes, session.patient_id)

    def run_patient(self, patient_id: str) -> None:
        session = self.open_chart(patient_id)
        if session is None:
            return
        self.ehr_panel(session)
        self.call(session, "patient-view", None)
        for draft in self.active_orders(session)[: self.max_orders]:
            self.call(session, "order-select", draft)
            self.call(session, "order-sign", draft)

    def run_mutations(self, patient_id: str) -> None:
        session = self.open_chart(patient_id)
        if session is None:
            return
        draft = next(iter(self.active_orders(session)), None)
        for label, mutate in MUTATIONS.items():
            self.call(session, "patient-view", None, mutate, label)
            if draft is not None:
                self.call(session, "order-select", draft, mutate, label)


def is_deceased(body: dict[str, Any]) -> bool:
    patient = (body.get("prefetch") or {}).get("patient")
    return isinstance(patient, dict) and bool(
        patient.get("deceasedBoolean") or patient.get("deceasedDateTime")
    )


def reorder_as_draft(original: dict[str, Any], session: Any) -> dict[str, Any]:
    """The EHR's "re-order": the same medication (code or reference), dose and route, as a new draft."""
    draft = copy.deepcopy(original)
    for key in ("meta", "text", "identifier", "basedOn", "priorPrescription", "dispenseRequest"):
        draft.pop(key, None)
    draft.update(
        id=f"draft-{uuid.uuid4().hex[:12]}",
        status="draft",
        intent="order",
        authoredOn=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        requester={"reference": session.user_id},
    )
    if session.encounter_id:
        draft["encounter"] = {"reference": f"Encounter/{session.encounter_id}"}
    return draft


def audit_errors(app: Any) -> list[tuple[str, str, int, str | None, int]]:
    import sqlalchemy as sa

    from cds_services.models_db import CdsAudit
    from evidence_cds.db import session_scope

    with session_scope(app) as s:
        rows = s.execute(
            sa.select(
                CdsAudit.service_id, CdsAudit.outcome, CdsAudit.status_code, CdsAudit.detail, sa.func.count()
            )
            .where(CdsAudit.outcome != "ok")
            .group_by(CdsAudit.service_id, CdsAudit.outcome, CdsAudit.status_code, CdsAudit.detail)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--limit", type=int, default=0, help="first N patients only (0: all)")
    parser.add_argument(
        "--max-orders", type=int, default=0, help="active meds re-ordered per patient (0: all)"
    )
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--mutation-patients", type=int, default=4, help="patients given the odd-FHIR pass")
    parser.add_argument("--dump", type=Path, help="write every call's cards as JSON lines here")
    args = parser.parse_args()
    tap = LogTap()
    logging.getLogger().addHandler(tap)
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per call otherwise

    from cds_services.serving import warm_up_app
    from evidence_cds.app import create_app
    from evidence_cds.devserver import prepare_defaults
    from sandbox.app import create_sandbox_app
    from tests.support.live_server import LiveServer

    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="synthea-sweep-"))
    app_srv, ehr_srv = LiveServer(), LiveServer()
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
    prepare_defaults(app.extensions["settings"])
    warm_up_app(app)
    logging.getLogger().addHandler(tap)  # create_app may have reconfigured logging
    sandbox = create_sandbox_app(
        {
            "base_url": ehr_srv.url,
            "app_base_url": app_srv.url,
            "state_dir": tmp / "sandbox",
            "patients": args.patients,
            "secret_key": "bench",
        }
    )
    app_srv.start(app)
    ehr_srv.start(sandbox)
    timebox = float(sandbox.extensions["sandbox_settings"].cds_timeout_s)
    sweep = Sweep(sandbox, ehr_srv.url, args.max_orders or None, timebox)
    if args.dump:
        sweep.dump = args.dump.open("w", encoding="utf-8")
    patients = [p["id"] for p in sweep.store.patients()]
    if args.limit:
        patients = patients[: args.limit]
    print(
        f"set-up {time.perf_counter() - started:.1f} s; {len(patients)} patients; services: "
        + ", ".join(f"{s.id} ({s.hook})" for s in sweep.services),
        flush=True,
    )
    t0 = time.perf_counter()
    crashes: list[str] = []
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        for pid, fut in [(p, pool.submit(sweep.run_patient, p)) for p in patients]:
            try:
                fut.result()
            except Exception as err:  # a crash in the sweep itself is a finding too
                crashes.append(f"{pid[:8]}: {type(err).__name__}: {err}")
    sweep_s = time.perf_counter() - t0

    # The odd-FHIR pass: the patients with the most active medications and observations.
    def weight(pid: str) -> tuple[int, int]:
        meds = [r for r in sweep.store.for_patient(pid, "MedicationRequest") if r.get("status") == "active"]
        return len(meds), len(sweep.store.for_patient(pid, "Observation"))

    chosen = sorted(patients, key=weight, reverse=True)[: args.mutation_patients]
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        for pid, fut in [(p, pool.submit(sweep.run_mutations, p)) for p in chosen]:
            try:
                fut.result()
            except Exception as err:
                crashes.append(f"{pid[:8]} (mutations): {type(err).__name__}: {err}")
    report(sweep, audit_errors(app), tap, crashes, sweep_s)
    app_srv.stop()
    ehr_srv.stop()
    failed = (
        crashes
        or audit_errors(app)
        or any(st.quality or set(st.status) - {"200"} for st in sweep.stats.values())
    )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

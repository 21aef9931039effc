"""The EHR's CDS client against the real evidence-cds services over loopback (no stand-in).

The product trusts a CDS client only when configured to (CDS Hooks 2.0 §Trusting CDS Clients: issuer,
JWKS, ``jku`` allowlist), so each case configures the product the way an operator would and checks
that the signed calls are accepted, or refused and shown as a note without breaking the chart.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from evidence_cds import db
from evidence_cds.app import create_app
from sandbox.app import create_sandbox_app
from tests.sandbox.ehr_support import PATIENT_ID, write_test_patients
from tests.support.live_server import LiveServer

HX = {"HX-Request": "true"}


def _start(tmp: Path, trust_sandbox: bool) -> tuple[LiveServer, LiveServer]:
    product, ehr = LiveServer(), LiveServer()
    jwks = f"{ehr.url}/cds-client/jwks.json"
    trusted: list[dict[str, Any]] = [{"iss": ehr.url, "jwks_url": jwks, "jku_allowlist": [jwks]}]
    if not trust_sandbox:
        trusted = [{"iss": "https://ehr.example.org", "jwks_url": "https://ehr.example.org/jwks.json"}]
    app = create_app(
        {
            "instance_path": tmp / "instance",
            "testing": True,
            "secret_key": "test-secret",
            "public_base_url": product.url,
            "ehr_origins": [ehr.url],
            "cds_trusted_clients": trusted,
        }
    )
    db.upgrade(app.extensions["settings"].resolved_database_url())
    sandbox = create_sandbox_app(
        {
            "base_url": ehr.url,
            "app_base_url": product.url,
            "patients": write_test_patients(tmp / "patients"),
            "state_dir": tmp / "sandbox",
            "testing": True,
            "cds_discovery_ttl_s": 0.0,
        }
    )
    product.start(app)
    ehr.start(sandbox)
    return product, ehr


@pytest.fixture(params=[True, False], ids=["trusted", "untrusted"])
def running(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[LiveServer, LiveServer, bool]]:
    product, ehr = _start(tmp_path, request.param)
    yield product, ehr, request.param
    product.stop()
    ehr.stop()


def test_patient_view_reaches_the_products_services(running: tuple[LiveServer, LiveServer, bool]) -> None:
    product, ehr, trusted = running
    services = requests.get(f"{product.url}/cds-services", timeout=10).json()["services"]
    patient_view = [s for s in services if s["hook"] == "patient-view"]
    if not patient_view:
        pytest.skip("the product registers no patient-view service yet")
    page = requests.get(f"{ehr.url}/chart/{PATIENT_ID}", timeout=10).text
    sid = re.search(r"/ehr/([0-9a-f]{32})/", page).group(1)  # type: ignore[union-attr]
    panel = requests.post(f"{ehr.url}/ehr/{sid}/hooks/patient-view", headers=HX, timeout=15)
    assert panel.status_code == 200
    assert 'data-hook="patient-view"' in panel.text
    notes = re.findall(r'class="cds-error" data-service="([^"]+)">([^<]*)<', panel.text)
    if trusted:
        assert notes == [], notes  # every signed call was accepted and answered
    else:
        # Refused by the product's JWT trust, shown as a note per service; the chart still renders.
        assert sorted(n[0] for n in notes) == sorted(s["id"] for s in patient_view)
        assert all(n[1].endswith("HTTP 401") for n in notes)

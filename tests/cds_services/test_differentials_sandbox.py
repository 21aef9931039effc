"""End to end: the sandbox EHR opens the chart of the demo patient with several problems, fires
patient-view at the product over loopback (signed JWT, EHR-built prefetch) and shows the card."""

from __future__ import annotations

import re
from pathlib import Path

import requests

from cds_services.services.differentials import warm_up
from tests.conftest import start_system

HX = {"HX-Request": "true"}


def test_card_appears_in_the_sandbox_chart_of_the_multiproblem_patient(tmp_path: Path) -> None:
    system = start_system(
        tmp_path, app_overrides={"cds_service_modules": ["cds_services.services.differentials"]}
    )
    try:
        warm_up(system.app.extensions["settings"])  # what gunicorn's post_worker_init does
        page = requests.get(f"{system.ehr_url}/chart/demo-multiproblem", timeout=10).text
        match = re.search(r"/ehr/([0-9a-f]{32})/", page)
        assert match, "chart page opened no session"
        panel = requests.post(
            f"{system.ehr_url}/ehr/{match.group(1)}/hooks/patient-view", headers=HX, timeout=30
        )
        assert panel.status_code == 200
        assert "Differential to consider" in panel.text
        assert "cds-error" not in panel.text
    finally:
        system.app_server.stop()
        system.sandbox_server.stop()

"""``evidence-cds serve``: gunicorn workers warm their services before serving, then answer hook calls."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from joserfc.jwk import ECKey

from tests.cds_services.conftest import TEST_SERVICES, EhrClient, patient_view

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_serve_runs_gunicorn_workers_that_warm_up_first(tmp_path: Path, ec_key: ECKey) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    instance = tmp_path / "instance"
    env = {
        **os.environ,
        "EVIDENCE_CDS_INSTANCE_PATH": str(instance),
        "EVIDENCE_CDS_PUBLIC_BASE_URL": url,
        "EVIDENCE_CDS_SECRET_KEY": "serve-test",
        "EVIDENCE_CDS_LOG_LEVEL": "WARNING",
        "EVIDENCE_CDS_CDS_SERVICE_MODULES": json.dumps([TEST_SERVICES]),
        "EVIDENCE_CDS_CDS_TRUSTED_CLIENTS": json.dumps(
            [{"iss": "https://ehr.test.example", "jwks": {"keys": [ec_key.as_dict(private=False)]}}]
        ),
        "PYTHONPATH": str(REPO),
    }
    cmd = [sys.executable, "-m", "evidence_cds.cli", "serve", "--workers", "2", "--bind", f"127.0.0.1:{port}"]
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/cds-services", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.3)
        else:
            pytest.fail("gunicorn did not come up: " + (tmp_path / "serve.log").read_text()[-2000:])
        # Both workers warmed before serving (one marker per worker process).
        deadline = time.monotonic() + 30
        while len(list(instance.glob("warm-*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(list(instance.glob("warm-*"))) == 2
        ehr = EhrClient(url, ec_key)
        for _ in range(4):
            resp = ehr.call("test-warm", patient_view("p1"))
            assert resp.status_code == 200 and resp.json()["cards"][0]["summary"] == "core advice"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()

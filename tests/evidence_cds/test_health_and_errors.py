from __future__ import annotations

import requests

from tests.support.live_server import LiveServer


def test_healthz_and_readyz_over_http(live_app: LiveServer) -> None:
    assert requests.get(f"{live_app.url}/healthz", timeout=5).json() == {"status": "ok"}
    ready = requests.get(f"{live_app.url}/readyz", timeout=5)
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"


def test_readyz_reports_unmigrated_database(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from evidence_cds.app import create_app

    app = create_app({"instance_path": tmp_path, "testing": True})
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503
    assert resp.json["checks"]["database"].startswith("unavailable")


def test_unknown_route_is_json_problem_without_internals(live_app: LiveServer) -> None:
    resp = requests.get(f"{live_app.url}/no/such/page", timeout=5)
    assert resp.status_code == 404
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert resp.json()["status"] == 404
    assert "Traceback" not in resp.text


def test_browser_gets_html_error_page(live_app: LiveServer) -> None:
    resp = requests.get(f"{live_app.url}/no/such/page", headers={"Accept": "text/html"}, timeout=5)
    assert resp.status_code == 404
    assert resp.headers["Content-Type"].startswith("text/html")
    assert "Not Found" in resp.text


def test_oversized_body_is_413(live_app: LiveServer) -> None:
    resp = requests.post(f"{live_app.url}/cds-services/x", data=b"x" * 2_000_000, timeout=10)
    assert resp.status_code == 413

"""The /librarian UI: login, roles, CSRF, and the whole workflow in a real browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from evidence_cds import db
from evidence_cds.app import create_app
from knowledge.config import STARTER_PACK_DIR
from knowledge.librarian.accounts import create_user
from knowledge.librarian.config import knowledge_config
from knowledge.library import Library
from knowledge.starter import ensure_starter_release
from tests.support.live_server import LiveServer

PASSWORD = "correct horse battery"
MINI_GOLDEN = """
- id: ui-warfarin
  question: NSAID with warfarin and stomach bleeding
  expected: [{doc: starter-warfarin-nsaids}]
- id: ui-digoxin
  question: cyclosporine raises digoxin levels
  expected: [{doc: starter-digoxin-cyclosporine}]
"""
UPLOAD = b"""---
title: Potassium monitoring on ACE inhibitors
publisher: evidence-cds team
year: 2026
url: https://example.org/ace-potassium
---
# Potassium monitoring on ACE inhibitors

## When to check

Check serum potassium and creatinine one to two weeks after starting or increasing an ACE inhibitor.
"""


@pytest.fixture
def librarian_app(tmp_path: Path, embedding_cache: Path) -> Flask:
    golden = tmp_path / "golden.yaml"
    golden.write_text(MINI_GOLDEN)
    app = create_app(
        {
            "instance_path": tmp_path / "instance",
            "testing": True,
            "secret_key": "test-secret",
            "knowledge_golden_path": golden,
            "knowledge_embedding_cache_dir": embedding_cache,
            "max_request_bytes": 4_000_000,
        }
    )
    db.upgrade(app.extensions["settings"].resolved_database_url())
    engine = app.extensions["db_engine"]
    create_user(engine, "alice", PASSWORD, "librarian")
    create_user(engine, "victor", PASSWORD, "viewer")
    ensure_starter_release(knowledge_config(app.extensions["settings"]), STARTER_PACK_DIR)
    return app


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page carries no CSRF token"
    return match.group(1)


def _login(client: Any, user: str) -> str:
    token = _csrf(client.get("/librarian/login").get_data(as_text=True))
    resp = client.post("/librarian/login", data={"username": user, "password": PASSWORD, "csrf_token": token})
    assert resp.status_code == 302
    return _csrf(client.get("/librarian/").get_data(as_text=True))


def test_unauthenticated_requests_are_refused(librarian_app: Flask) -> None:
    client = librarian_app.test_client()
    page = client.get("/librarian/")
    assert page.status_code == 302 and "/librarian/login" in page.headers["Location"]
    assert client.get("/librarian/releases", headers={"HX-Request": "true"}).status_code == 401
    assert client.get("/librarian/audit", headers={"Accept": "application/json"}).status_code == 302
    token = _csrf(client.get("/librarian/login").get_data(as_text=True))
    resp = client.post("/librarian/releases/r0001/publish", data={"csrf_token": token})
    assert resp.status_code == 401


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/librarian/releases/r0001/publish", {}),
        ("/librarian/rollback", {"reason": "x"}),
        ("/librarian/logout", {}),
        ("/librarian/releases/r0001/publish", {"csrf_token": "forged"}),
    ],
)
def test_posts_without_a_valid_csrf_token_are_refused(
    librarian_app: Flask, path: str, data: dict[str, str]
) -> None:
    client = librarian_app.test_client()
    _login(client, "alice")
    resp = client.post(path, data=data, headers={"Accept": "application/json"})
    assert resp.status_code == 403
    assert "CSRF" in resp.get_json()["detail"]


def test_login_with_a_wrong_password_fails_and_viewers_cannot_publish(librarian_app: Flask) -> None:
    client = librarian_app.test_client()
    token = _csrf(client.get("/librarian/login").get_data(as_text=True))
    bad = client.post("/librarian/login", data={"username": "alice", "password": "nope", "csrf_token": token})
    assert bad.status_code == 200 and "wrong password" in bad.get_data(as_text=True)
    token = _login(client, "victor")
    resp = client.post(
        "/librarian/releases/r0001/publish",
        data={"csrf_token": token},
        headers={"Accept": "application/json"},
    )
    assert resp.status_code == 403


@pytest.fixture
def live_librarian(librarian_app: Flask) -> Iterator[LiveServer]:
    server = LiveServer().start(librarian_app)
    yield server
    server.stop()


@pytest.mark.browser
def test_librarian_workflow_in_a_browser(live_librarian: LiveServer, page: Any) -> None:
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{live_librarian.url}/librarian/")
    assert "/librarian/login" in page.url
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('Knowledge releases')")
    assert page.inner_text("#serving") == "r0001"

    page.set_input_files(
        "input[name=documents]", {"name": "ace-potassium.md", "mimeType": "text/markdown", "buffer": UPLOAD}
    )
    page.click("#upload button[type=submit]")
    page.wait_for_selector("#job")  # the job appears at once and polls for progress
    page.wait_for_selector("#job[data-status=done]", timeout=90_000)
    assert "built draft r0002" in page.inner_text("#job")
    page.wait_for_selector("#release-r0002")

    page.click("#job a:has-text('ace-potassium')")
    page.wait_for_selector("article.chunk")
    assert "When to check" in page.inner_text("main")
    page.click("nav a:has-text('Releases')")
    page.wait_for_selector("#release-r0002 form.publish button")
    page.click("#release-r0002 button:has-text('Evaluate')")
    page.wait_for_selector("#eval-r0002")
    assert "hybrid" in page.inner_text("#eval-r0002") and "nDCG@10" in page.inner_text("#eval-r0002")
    page.click("#release-r0002 form.publish button")
    # a selector wait, not wait_for_function: the librarian CSP (script-src 'self') forbids eval
    page.wait_for_selector("#serving:text-is('r0002')", timeout=60_000)
    assert "published" in page.inner_text("#release-r0002")

    page.click("a:has-text('Audit trail')")
    audit = page.inner_text("#audit")
    assert "web:alice" in audit and "publish" in audit and "ingest" in audit
    assert not page.problems, page.problems


def test_pages_show_documents_chunks_stale_flags_and_release_history(librarian_app: Flask) -> None:
    client = librarian_app.test_client()
    _login(client, "victor")  # viewers may look
    docs = client.get("/librarian/documents").get_data(as_text=True)
    assert "starter-warfarin-nsaids" in docs and "possibly stale" not in docs  # the pack is from 2026
    chunks = client.get("/librarian/documents/starter-digoxin-cyclosporine").get_data(as_text=True)
    assert "starter-digoxin-cyclosporine#0000" in chunks and "§ Digoxin with cyclosporine" in chunks
    old = b"---\ntitle: Old advice\npublisher: Someone\nyear: 2011\n---\n# Old\n\nOld text.\n"
    Library(knowledge_config(librarian_app.extensions["settings"])).add_bytes("old.md", old, "test")
    flagged = client.get("/librarian/documents").get_data(as_text=True)
    assert flagged.count("possibly stale") == 1 and "Old advice" in flagged
    release = client.get("/librarian/releases/r0001").get_data(as_text=True)
    assert "system:prepare" in release and "published" in release
    assert client.get("/librarian/documents/nope", headers={"Accept": "application/json"}).status_code == 404
    assert client.get("/librarian/releases/r0042", headers={"Accept": "application/json"}).status_code == 404

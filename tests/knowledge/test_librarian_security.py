"""Librarian attack requests over loopback: brute force, upload names, open redirect, CSRF, headers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pytest
import requests
from pypdf import PdfWriter

from evidence_cds import db
from evidence_cds.app import create_app
from knowledge.documents import DocumentMeta
from knowledge.librarian.accounts import create_user
from knowledge.parsing import PDF_MAX_PAGES, ParseError, parse_pdf
from tests.support.live_server import LiveServer

PASSWORD = "a long librarian password"


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("libsec")
    app = create_app({"instance_path": tmp / "instance", "testing": True, "secret_key": "libsec"})
    db.upgrade(app.extensions["settings"].resolved_database_url())
    for name in ("alice", "bob", "carol"):
        create_user(app.extensions["db_engine"], name, PASSWORD, "librarian")
    server = LiveServer()
    server.start(app)
    yield server.url, tmp / "instance"
    server.stop()


def _csrf(http: requests.Session, url: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', http.get(url, timeout=10).text)
    assert found is not None
    return found.group(1)


def _login(base: str, user: str, password: str = PASSWORD, next_: str | None = None) -> requests.Response:
    http = requests.Session()
    token = _csrf(http, f"{base}/librarian/login")
    url = f"{base}/librarian/login" + (f"?next={requests.utils.quote(next_, safe='')}" if next_ else "")
    form = {"username": user, "password": password, "csrf_token": token}
    resp = http.post(url, data=form, timeout=10, allow_redirects=False)
    resp.session = http  # type: ignore[attr-defined]
    return resp


def test_repeated_wrong_passwords_lock_the_account_but_not_others(lib: tuple[str, Path]) -> None:
    base, _ = lib
    for _ in range(5):
        assert _login(base, "bob", "wrong").status_code == 200
    locked = _login(base, "bob")  # even the right password is refused while locked
    assert locked.status_code == 429 and "Too many failed attempts" in locked.text
    assert _login(base, "carol").status_code == 302  # another account from the same address still works


@pytest.mark.parametrize(
    "target", ["//evil.example/librarian", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"]
)
def test_login_next_parameter_never_leaves_the_site(lib: tuple[str, Path], target: str) -> None:
    resp = _login(lib[0], "alice", next_=target)
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith(("/librarian", f"{lib[0]}/librarian")), location


def test_login_rotates_the_session_and_csrf_token(lib: tuple[str, Path]) -> None:
    base, _ = lib
    http = requests.Session()
    before = _csrf(http, f"{base}/librarian/login")
    form = {"username": "alice", "password": PASSWORD, "csrf_token": before}
    resp = http.post(f"{base}/librarian/login", data=form, timeout=10, allow_redirects=False)
    assert resp.status_code == 302
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    after = re.search(r'name="csrf_token" value="([^"]+)"', http.get(f"{base}/librarian/", timeout=10).text)
    assert after is not None and after.group(1) != before


def test_librarian_pages_carry_csp_and_refuse_framing(lib: tuple[str, Path]) -> None:
    resp = requests.get(f"{lib[0]}/librarian/login", timeout=10)
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-eval" not in csp
    assert resp.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    "name",
    [
        "..",
        "../../..",
        "..\\\\..\\\\",
        ".hidden.md",
        "evil.exe",
        "shell.md.sh",
        "a\x01b.md",
        "x" * 300 + ".md",
    ],
)
def test_upload_refuses_unsafe_or_unsupported_file_names(lib: tuple[str, Path], name: str) -> None:
    base, instance = lib
    resp = _login(base, "alice")
    http: requests.Session = resp.session  # type: ignore[attr-defined]
    page = http.get(f"{base}/librarian/", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    upload = http.post(
        f"{base}/librarian/upload",
        files={"documents": (name, b"# Title\n\ntext\n", "text/markdown")},
        data={"csrf_token": token.group(1)},
        headers={"Accept": "application/json"},
        timeout=10,
    )
    assert upload.status_code == 400
    assert not (instance.parent / "escape.md").exists() and not list(instance.rglob("uploads/*/*"))


def test_upload_without_csrf_token_is_refused(lib: tuple[str, Path]) -> None:
    http: requests.Session = _login(lib[0], "alice").session  # type: ignore[attr-defined]
    resp = http.post(
        f"{lib[0]}/librarian/upload",
        files={"documents": ("ok.md", b"# t\n", "text/markdown")},
        headers={"Accept": "application/json"},
        timeout=10,
    )
    assert resp.status_code == 403


def test_pdf_with_too_many_pages_is_refused_before_text_extraction() -> None:
    writer = PdfWriter()
    for _ in range(PDF_MAX_PAGES + 1):
        writer.add_blank_page(10, 10)
    buf = BytesIO()
    writer.write(buf)
    with pytest.raises(ParseError, match="pages"):
        parse_pdf(buf.getvalue())


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("javascript:alert(1)", None),
        ("data:text/html,<script>1</script>", None),
        ("//evil.example", None),
        ("doi:10.1000/182", None),
        ("https://example.org/g?a=1", "https://example.org/g?a=1"),
    ],
)
def test_document_urls_are_kept_only_when_http(url: str, kept: str | None) -> None:
    assert DocumentMeta(doc_id="d", title="t", publisher="p", year=2020, url=url).url == kept

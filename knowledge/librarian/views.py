"""The librarian's pages: releases, upload with live progress, documents and chunks, evaluation,
publish / roll back with confirmation, audit trail. Thin routes over :mod:`knowledge.librarian.service`.
"""

from __future__ import annotations

import re
from typing import Any

from flask import abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from evidence_cds.errors import NotFound
from knowledge.documents import SUPPORTED_SUFFIXES
from knowledge.evaluation import load_golden
from knowledge.librarian import service
from knowledge.librarian.accounts import audit_trail
from knowledge.librarian.jobs import load_job, start_ingest_job
from knowledge.librarian.web import actor, bp, engine, kconfig, login_required
from knowledge.library import Library
from knowledge.publishing import GateRefused
from knowledge.releases import ReleaseError, diff, list_releases, read_manifest, read_pointer

_META_FIELDS = ("title", "publisher", "year", "url")
_SAFE_NAME = re.compile(r"\w[\w ._()+-]{0,150}")


def _upload_name(raw: str) -> str:
    """The client's file name reduced to a safe base name with a supported suffix, else 400.

    Browsers may send a full path (``C:\\docs\\x.pdf``) and an attacker anything (``..``, NUL, a
    dot file); the name ends up as a file under the job's upload folder, so only plain names pass.
    """
    name = re.split(r"[\\/]", raw)[-1].strip()
    suffix = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
    if not _SAFE_NAME.fullmatch(name) or suffix not in SUPPORTED_SUFFIXES:
        abort(400, description=f"unsupported file name {name[:80]!r}: use a plain .md, .html or .pdf name")
    return name


def _releases_context() -> dict[str, Any]:
    cfg = kconfig()
    pointer = read_pointer(cfg)
    releases = list(reversed(list_releases(cfg)))
    rows = [(m, service.release_state(m, pointer)) for m in releases]
    return {
        "rows": rows,
        "pointer": pointer,
        "stale": service.stale_documents(cfg),
        "stale_years": cfg.stale_years,
        "has_golden": cfg.golden_path is not None and cfg.golden_path.exists(),
    }


@bp.get("/")
@login_required()
def index() -> str:
    return render_template("librarian/index.html", **_releases_context())


@bp.get("/releases")
@login_required()
def releases_partial() -> str:
    return render_template("librarian/_releases.html", **_releases_context())


@bp.post("/upload")
@login_required("librarian")
def upload() -> str:
    files = [f for f in request.files.getlist("documents") if f and f.filename]
    if not files:
        abort(400, description="choose at least one .md, .html or .pdf file")
    metadata = {k: request.form[k].strip() for k in _META_FIELDS if request.form.get(k, "").strip()}
    uploads = [(_upload_name(str(f.filename)), f.read()) for f in files]
    job = start_ingest_job(kconfig(), engine(), actor(), uploads, metadata)
    return render_template("librarian/_job.html", job=job)


@bp.get("/jobs/<job_id>")
@login_required()
def job_status(job_id: str) -> str:
    try:
        job = load_job(kconfig(), job_id)
    except KeyError as err:
        raise NotFound(f"no job {job_id}") from err
    return render_template("librarian/_job.html", job=job)


@bp.get("/documents")
@login_required()
def documents() -> str:
    cfg = kconfig()
    docs = sorted(Library(cfg).index().values(), key=lambda s: s.meta.doc_id)
    return render_template(
        "librarian/documents.html",
        docs=docs,
        is_stale=lambda y: service.is_stale(cfg, y),
        stale_years=cfg.stale_years,
    )


@bp.get("/documents/<doc_id>")
@login_required()
def document(doc_id: str) -> str:
    cfg = kconfig()
    try:
        doc = Library(cfg).document(doc_id)
    except KeyError as err:
        raise NotFound(f"no document {doc_id} in the library") from err
    return render_template(
        "librarian/document.html", doc=doc, stale=service.is_stale(cfg, doc.summary.meta.year)
    )


@bp.post("/releases/<release_id>/evaluate")
@login_required("librarian")
def evaluate(release_id: str) -> str:
    try:
        rid, scores = service.evaluate(kconfig(), engine(), actor(), release_id)
    except (ReleaseError, FileNotFoundError) as err:
        return render_template("librarian/_message.html", level="critical", message=str(err))
    return render_template("librarian/_eval.html", release_id=rid, scores=scores)


@bp.post("/releases/<release_id>/publish")
@login_required("librarian")
def publish(release_id: str) -> str:
    force = request.form.get("force") == "on"
    reason = request.form.get("reason", "").strip() or None
    message, level = "", "info"
    try:
        outcome = service.publish(kconfig(), engine(), actor(), release_id, force=force, reason=reason)
        message = f"Published {release_id}" + (" (forced past the gate)" if outcome.forced else "")
    except GateRefused as err:
        message, level = f"{err} Tick 'force' and give a reason to override (audited).", "critical"
    except ReleaseError as err:
        message, level = str(err), "critical"
    return render_template("librarian/_releases.html", flash=message, level=level, **_releases_context())


@bp.post("/rollback")
@login_required("librarian")
def rollback() -> str:
    reason = request.form.get("reason", "").strip() or None
    try:
        pointer = service.rollback(kconfig(), engine(), actor(), request.form.get("to") or None, reason)
        message, level = f"Rolled back: now serving {pointer.release_id}", "warning"
    except ReleaseError as err:
        message, level = str(err), "critical"
    return render_template("librarian/_releases.html", flash=message, level=level, **_releases_context())


@bp.get("/releases/<release_id>")
@login_required()
def release(release_id: str) -> str:
    cfg = kconfig()
    try:
        manifest = read_manifest(cfg, release_id)
    except ReleaseError as err:
        raise NotFound(str(err)) from err
    ids = [m.release_id for m in list_releases(cfg)]
    earlier = ids[: ids.index(release_id)]
    base = request.args.get("against") or (earlier[-1] if earlier else None)
    try:
        changes = diff(cfg, base, release_id) if base else None
    except ReleaseError as err:
        raise NotFound(str(err)) from err
    return render_template("librarian/release.html", m=manifest, changes=changes, golden=_golden_size())


def _golden_size() -> int | None:
    cfg = kconfig()
    if cfg.golden_path is None or not cfg.golden_path.exists():
        return None
    return len(load_golden(cfg.golden_path).questions)


@bp.get("/audit")
@login_required()
def audit_page() -> str:
    return render_template("librarian/audit.html", rows=audit_trail(engine()))


@bp.get("/home")
def home() -> Response:
    return redirect(url_for("librarian.index"))

"""Background ingestion jobs for the web UI, with progress the page polls (htmx ``every 1s``).

Job state is a small JSON file under ``knowledge_dir/jobs/`` (atomically replaced on each update), so
any worker process can answer the poll, not only the one running the job. Uploaded files are kept
under ``knowledge_dir/uploads/<job id>/`` as the provenance of what was ingested.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Engine

from knowledge.config import KnowledgeConfig
from knowledge.fsutil import atomic_write_text
from knowledge.librarian import service
from knowledge.library import AddResult, Library

JobStatus = Literal["queued", "running", "done", "failed"]


class Job(BaseModel):
    id: str
    actor: str
    status: JobStatus = "queued"
    stage: str = "queued"
    done: int = 0
    total: int = 0
    message: str = ""
    release_id: str | None = None
    outcomes: list[dict[str, Any]] = Field(default_factory=list)
    started_at: datetime
    finished_at: datetime | None = None

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else (100 if self.status == "done" else 0)


def _path(config: KnowledgeConfig, job_id: str) -> Path:
    if not job_id.isalnum():
        raise KeyError(job_id)
    return config.knowledge_dir / "jobs" / f"{job_id}.json"


def load_job(config: KnowledgeConfig, job_id: str) -> Job:
    path = _path(config, job_id)
    if not path.is_file():
        raise KeyError(job_id)
    return Job.model_validate_json(path.read_bytes())


def _save(config: KnowledgeConfig, job: Job) -> None:
    atomic_write_text(_path(config, job.id), job.model_dump_json())


def start_ingest_job(
    config: KnowledgeConfig,
    engine: Engine,
    actor: str,
    uploads: list[tuple[str, bytes]],
    metadata: Mapping[str, Any],
) -> Job:
    """Store the uploads, then add + build in a daemon thread; returns the queued job at once."""
    job = Job(id=secrets.token_hex(8), actor=actor, started_at=datetime.now(UTC), total=len(uploads))
    folder = config.knowledge_dir / "uploads" / job.id
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in uploads:
        (folder / Path(name).name).write_bytes(data)
    _save(config, job)

    def add(library: Library) -> list[AddResult]:
        results = []
        for name, data in uploads:
            results.append(library.add_bytes(Path(name).name, data, actor, metadata))
            job.done += 1
            _save(config, job)
        return results

    def progress(stage: str, done: int, total: int) -> None:
        job.stage, job.done, job.total = stage, done, total
        _save(config, job)

    def run() -> None:
        job.status, job.stage = "running", "parse + chunk"
        _save(config, job)
        try:
            report = service.ingest(config, engine, actor, add, build=True, progress=progress)
            job.outcomes = [
                {"source": r.source, "outcome": r.outcome, "doc_id": r.doc_id, "message": r.message}
                for r in report.results
            ]
            job.release_id = report.manifest.release_id if report.manifest else None
            accepted = sum(1 for r in report.results if r.outcome in ("added", "changed", "unchanged"))
            job.message = f"{accepted} of {len(report.results)} document(s) accepted; " + (
                f"built draft {job.release_id}" if report.built else "no new release (nothing changed)"
            )
            job.status, job.stage = "done", "done"
        except Exception as err:  # a background thread must record, not lose, its failure
            job.status, job.stage, job.message = "failed", "failed", f"{type(err).__name__}: {err}"
        job.finished_at = datetime.now(UTC)
        _save(config, job)

    threading.Thread(target=run, name=f"ingest-{job.id}", daemon=True).start()
    return job

"""Versioned trial releases: an immutable folder per release and an atomic ``CURRENT`` pointer.

Layout under the trials folder (``trials_dir`` setting, default ``<knowledge_dir>/trials``)::

    releases/<release_id>/manifest.json   id, created_at, content hash, model, sources, counts
    releases/<release_id>/trials.jsonl    the imported trials (criteria and parsed rules included)
    releases/<release_id>/vectors.npy     passage embeddings (float32, unit length)
    releases/<release_id>/owner.npy       passage → trial row
    CURRENT                               the release id served (written atomically)

Building is idempotent: the same trials and model give the same content hash, and a build whose hash
equals the current release's returns that release without re-embedding (``make run`` stays fast).
Switching back to an older release is one pointer write (:func:`activate`).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from knowledge.fsutil import atomic_write_bytes, atomic_write_text, file_lock
from knowledge.trials.index import TrialIndex
from knowledge.trials.models import Trial


class Encoder(Protocol):
    model_name: str

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...


class ReleaseNotFound(LookupError):
    """No trial release has been built (or the named one does not exist)."""


class ReleaseManifest(BaseModel):
    release_id: str
    created_at: datetime
    content_hash: str
    embedding_model: str
    n_trials: int
    n_passages: int
    n_recruiting: int
    sources: list[str]


def content_hash(trials: Sequence[Trial], model: str) -> str:
    h = hashlib.sha256(model.encode())
    for t in sorted(trials, key=lambda x: x.nct_id):
        h.update(t.model_dump_json().encode())
    return h.hexdigest()


def embed_passages(
    trials: Sequence[Trial], encoder: Encoder
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int32]]:
    texts: list[str] = []
    owner: list[int] = []
    for i, t in enumerate(trials):
        for p in t.passages():
            texts.append(p)
            owner.append(i)
    return encoder.encode(texts), np.asarray(owner, dtype=np.int32)


def build_index(trials: Sequence[Trial], encoder: Encoder, release_id: str = "") -> TrialIndex:
    """An in-memory index (no files): tests, benchmarks and evaluation runs."""
    vectors, owner = embed_passages(trials, encoder)
    return TrialIndex(trials, vectors, owner, release_id=release_id, embedding_model=encoder.model_name)


def current_release_id(trials_dir: Path) -> str | None:
    pointer = trials_dir / "CURRENT"
    return pointer.read_text().strip() or None if pointer.is_file() else None


def read_manifest(trials_dir: Path, release_id: str) -> ReleaseManifest:
    path = trials_dir / "releases" / release_id / "manifest.json"
    if not path.is_file():
        raise ReleaseNotFound(f"trial release {release_id!r} not found under {trials_dir}")
    return ReleaseManifest.model_validate_json(path.read_text())


def list_releases(trials_dir: Path) -> list[ReleaseManifest]:
    root = trials_dir / "releases"
    if not root.is_dir():
        return []
    found = [read_manifest(trials_dir, p.name) for p in root.iterdir() if (p / "manifest.json").is_file()]
    return sorted(found, key=lambda m: m.created_at)


def activate(trials_dir: Path, release_id: str) -> ReleaseManifest:
    """Point ``CURRENT`` at an existing release (promotion or rollback)."""
    manifest = read_manifest(trials_dir, release_id)
    atomic_write_text(trials_dir / "CURRENT", release_id + "\n")
    return manifest


def build_release(
    trials: Sequence[Trial], trials_dir: Path, encoder: Encoder, *, activate_it: bool = True
) -> ReleaseManifest:
    """Write a new release of ``trials`` (or return the current one when the content is unchanged)."""
    digest = content_hash(trials, encoder.model_name)
    with file_lock(trials_dir / ".build.lock"):
        current = current_release_id(trials_dir)
        if current is not None:
            try:
                existing = read_manifest(trials_dir, current)
            except ReleaseNotFound:
                existing = None
            if existing is not None and existing.content_hash == digest:
                return existing
        now = datetime.now(UTC)
        release_id = f"trials-{now:%Y%m%dT%H%M%S%f}-{digest[:8]}"
        folder = trials_dir / "releases" / release_id
        folder.mkdir(parents=True, exist_ok=False)
        vectors, owner = embed_passages(trials, encoder)
        lines = "\n".join(t.model_dump_json() for t in trials)
        atomic_write_text(folder / "trials.jsonl", lines + "\n")
        for name, array in (("vectors.npy", vectors), ("owner.npy", owner)):
            with (folder / f".{name}.tmp").open("wb") as fh:
                np.save(fh, array)
            (folder / f".{name}.tmp").replace(folder / name)
        manifest = ReleaseManifest(
            release_id=release_id,
            created_at=now,
            content_hash=digest,
            embedding_model=encoder.model_name,
            n_trials=len(trials),
            n_passages=int(owner.shape[0]),
            n_recruiting=sum(t.is_recruiting for t in trials),
            sources=sorted({t.source for t in trials if t.source}),
        )
        # The manifest is written last: a folder without one is an unfinished build and is ignored.
        atomic_write_bytes(folder / "manifest.json", manifest.model_dump_json(indent=2).encode())
        if activate_it:
            atomic_write_text(trials_dir / "CURRENT", release_id + "\n")
        return manifest


_cache: dict[tuple[str, str], TrialIndex] = {}
_cache_lock = threading.Lock()


def load_index(trials_dir: Path, release_id: str | None = None) -> TrialIndex:
    """The index of ``release_id`` (default: the current release), loaded once per process."""
    rid = release_id or current_release_id(trials_dir)
    if rid is None:
        raise ReleaseNotFound(f"no trial release built under {trials_dir}")
    key = (str(trials_dir.resolve()), rid)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            return cached
        manifest = read_manifest(trials_dir, rid)
        folder = trials_dir / "releases" / rid
        trials = [
            Trial.model_validate(json.loads(line))
            for line in (folder / "trials.jsonl").read_text().splitlines()
            if line
        ]
        index = TrialIndex(
            trials,
            np.load(folder / "vectors.npy"),
            np.load(folder / "owner.npy"),
            release_id=rid,
            embedding_model=manifest.embedding_model,
        )
        _cache[key] = index
        return index

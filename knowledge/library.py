"""The library: the documents the librarian has chosen for the next release, parsed and chunked.

``library/index.json`` lists the active documents (metadata + hashes); ``library/docs/<doc_id>.json``
holds each one's normalised text and chunks. Adding a file parses it, validates its metadata, and
classifies it as ``added`` / ``changed`` / ``unchanged`` / ``duplicate`` (same normalised text as
another document) / ``refused`` (bad metadata or unreadable). A release (:mod:`knowledge.releases`)
is an immutable snapshot built from the library.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter

from knowledge.chunking import Chunk, chunk_document, sha256
from knowledge.config import KnowledgeConfig
from knowledge.documents import (
    SUPPORTED_SUFFIXES,
    DocumentMeta,
    MetadataError,
    build_meta,
    document_kind,
    read_manifest_csv,
    read_sidecar,
    split_front_matter,
)
from knowledge.fsutil import atomic_write_text, file_lock
from knowledge.parsing import ParsedText, ParseError, parse_bytes

Outcome = Literal["added", "changed", "unchanged", "duplicate", "refused"]
_TOPIC_SECTIONS = ("disease/condition(s)", "topics", "keywords")


class DocumentSummary(BaseModel):
    meta: DocumentMeta
    kind: str
    source_name: str
    content_hash: str  # sha256 of the normalised text
    meta_hash: str
    chunk_params: str
    n_chunks: int
    added_at: datetime
    added_by: str

    @property
    def doc_hash(self) -> str:
        """Identity of this version of the document (text, metadata and chunking)."""
        return sha256(f"{self.content_hash}:{self.meta_hash}:{self.chunk_params}")


class LibraryDocument(BaseModel):
    summary: DocumentSummary
    text: str
    chunks: list[Chunk]


@dataclass(frozen=True)
class AddResult:
    source: str
    outcome: Outcome
    doc_id: str | None
    message: str
    n_chunks: int = 0


_INDEX = TypeAdapter(dict[str, DocumentSummary])


def _topics_from_text(parsed: ParsedText) -> list[str]:
    """When metadata names no topics, use the lines of a 'Disease/Condition(s)' or 'Topics' section."""
    for section in parsed.sections:
        if section.path and section.path[-1].strip().lower() in _TOPIC_SECTIONS:
            lines = parsed.text[section.start : section.end].splitlines()
            return [line.strip(" -*") for line in lines if line.strip(" -*")][:12]
    return []


class Library:
    def __init__(self, config: KnowledgeConfig) -> None:
        self.config = config
        self.root = config.library_dir
        self.index_path = self.root / "index.json"

    # --- reading -----------------------------------------------------------------------------
    def index(self) -> dict[str, DocumentSummary]:
        if not self.index_path.is_file():
            return {}
        return _INDEX.validate_json(self.index_path.read_bytes())

    def document(self, doc_id: str) -> LibraryDocument:
        path = self.root / "docs" / f"{doc_id}.json"
        if not path.is_file():
            raise KeyError(doc_id)
        return LibraryDocument.model_validate_json(path.read_bytes())

    # --- writing -----------------------------------------------------------------------------
    def add_files(self, paths: Iterable[Path], actor: str) -> list[AddResult]:
        """Add documents from disk; metadata from sidecar, front matter or a ``manifest.csv``."""
        manifests: dict[Path, dict[str, dict[str, Any]]] = {}
        results = []
        for path in paths:
            if path.parent not in manifests:
                manifests[path.parent] = read_manifest_csv(path.parent)
            row = manifests[path.parent].get(path.name, {})
            try:
                sidecar = read_sidecar(path)
            except MetadataError as err:
                results.append(AddResult(path.name, "refused", None, str(err)))
                continue
            results.append(self.add_bytes(path.name, path.read_bytes(), actor, sidecar, row))
        return results

    def add_bytes(self, name: str, data: bytes, actor: str, *meta_sources: Mapping[str, Any]) -> AddResult:
        """Parse, validate and store one document; ``meta_sources`` in order of precedence."""
        path = Path(name)
        try:
            kind = document_kind(path)
            front: dict[str, Any] = {}
            if kind == "markdown":
                try:
                    front, body = split_front_matter(data.decode("utf-8-sig"))
                except UnicodeDecodeError as err:
                    raise ParseError(f"not UTF-8 text: {err}") from err
                parsed = parse_bytes(kind, body.encode("utf-8"))
            else:
                parsed = parse_bytes(kind, data)
            meta = build_meta(path, *meta_sources, front, parsed.hints)
        except (MetadataError, ParseError) as err:
            message = str(err) if str(err).startswith(path.name) else f"{path.name}: {err}"
            return AddResult(name, "refused", None, message)
        if not meta.topics:
            meta = meta.model_copy(update={"topics": _topics_from_text(parsed)})
        return self._store(name, kind, parsed, meta, actor)

    def _store(self, name: str, kind: str, parsed: ParsedText, meta: DocumentMeta, actor: str) -> AddResult:
        cfg = self.config
        content_hash = sha256(parsed.text)
        meta_hash = sha256(meta.model_dump_json())
        params = f"{cfg.chunk_size}/{cfg.chunk_overlap}"
        with file_lock(self.root / ".lock"):
            index = self.index()
            for other_id, other in index.items():
                if other.content_hash == content_hash and other_id != meta.doc_id:
                    return AddResult(
                        name, "duplicate", meta.doc_id, f"{name}: same text as {other_id}; skipped"
                    )
            previous = index.get(meta.doc_id)
            if (
                previous is not None
                and previous.content_hash == content_hash
                and previous.meta_hash == meta_hash
                and previous.chunk_params == params
            ):
                return AddResult(name, "unchanged", meta.doc_id, "unchanged", previous.n_chunks)
            chunks = chunk_document(meta.doc_id, parsed, cfg.chunk_size, cfg.chunk_overlap)
            if not chunks:
                return AddResult(name, "refused", meta.doc_id, f"{name}: no text to index")
            summary = DocumentSummary(
                meta=meta,
                kind=kind,
                source_name=name,
                content_hash=content_hash,
                meta_hash=meta_hash,
                chunk_params=params,
                n_chunks=len(chunks),
                added_at=datetime.now(UTC),
                added_by=actor,
            )
            doc = LibraryDocument(summary=summary, text=parsed.text, chunks=chunks)
            atomic_write_text(self.root / "docs" / f"{meta.doc_id}.json", doc.model_dump_json())
            index[meta.doc_id] = summary
            self._write_index(index)
        outcome: Outcome = "changed" if previous is not None else "added"
        return AddResult(name, outcome, meta.doc_id, outcome, len(chunks))

    def remove(self, doc_id: str) -> bool:
        """Retire a document from the next release (published releases keep their copy)."""
        with file_lock(self.root / ".lock"):
            index = self.index()
            if index.pop(doc_id, None) is None:
                return False
            self._write_index(index)
        return True

    def _write_index(self, index: dict[str, DocumentSummary]) -> None:
        atomic_write_text(self.index_path, _INDEX.dump_json(index, indent=1).decode())


def discover_files(folder: Path) -> list[Path]:
    """Supported documents under ``folder`` (recursive, sorted; sidecars and hidden files skipped)."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES and not p.name.startswith(".")
    )


def dump_summary(summary: DocumentSummary) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(summary.model_dump_json())
    data["doc_hash"] = summary.doc_hash
    return data

"""Document metadata: where it comes from and what a document must state before it is indexed.

A guideline passage can only be cited if the reader can tell who said it and when, so every document
needs a title, a publisher and a year. They come from, in order of precedence:

1. a sidecar file beside the document (``<file>.meta.json``, ``<file>.meta.yaml`` / ``.yml``);
2. front matter at the top of a Markdown document (``---`` YAML block);
3. a manifest CSV in the folder or its parent (columns ``file, ngc_id, title, developer, year,
   original_url`` as in the shared NGC guideline manifest, or ``file, id, title, publisher, year, url``).

A document that still lacks one of the three is refused with :class:`MetadataError` naming the file
and the missing fields.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

SUPPORTED_SUFFIXES = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*\n", re.DOTALL)
_SLUG = re.compile(r"[^a-z0-9]+")


class MetadataError(ValueError):
    """A document cannot be indexed because its metadata is missing or malformed."""


class DocumentMeta(BaseModel):
    """What the index records about a document (the citation a card shows)."""

    doc_id: str
    title: str = Field(min_length=1)
    publisher: str = Field(min_length=1)
    year: int = Field(ge=1900, le=2100)
    url: str | None = None
    topics: list[str] = Field(default_factory=list)

    @field_validator("doc_id")
    @classmethod
    def _doc_id_is_slug(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", v):
            raise ValueError("doc_id must be letters, digits, '.', '_' or '-' (max 128)")
        return v

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, v: str | None) -> str | None:
        # Shown as a link in the librarian UI and on cards: a javascript:/data: URL would be stored XSS.
        # Dropped rather than refused: HTML hints (dc.identifier) often carry a DOI or urn, and
        # documents stored before this check must still load.
        if v is None or not re.fullmatch(r"https?://[^\s<>\"']+", v.strip(), re.IGNORECASE):
            return None
        return v.strip()


def slugify(text: str) -> str:
    return _SLUG.sub("-", text.lower()).strip("-")[:120] or "document"


def document_kind(path: Path) -> str:
    """``markdown`` | ``html`` | ``pdf``; raises :class:`MetadataError` for anything else."""
    kind = SUPPORTED_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise MetadataError(f"{path.name}: unsupported file type {path.suffix!r} (use .md, .html or .pdf)")
    return kind


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Return ``(front matter mapping, body)``; no front matter gives ``({}, text)``."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        data = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as err:
        raise MetadataError(f"front matter is not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise MetadataError("front matter must be a mapping")
    return data, text[match.end() :]


def read_sidecar(path: Path) -> dict[str, Any]:
    for suffix in (".meta.json", ".meta.yaml", ".meta.yml"):
        side = path.with_name(path.name + suffix)
        if side.is_file():
            raw = side.read_text(encoding="utf-8")
            try:
                data = json.loads(raw) if suffix == ".meta.json" else yaml.safe_load(raw)
            except (json.JSONDecodeError, yaml.YAMLError) as err:
                raise MetadataError(f"{side.name}: not valid {suffix[6:].upper()}: {err}") from err
            if not isinstance(data, dict):
                raise MetadataError(f"{side.name}: must hold a mapping")
            return data
    return {}


def read_manifest_csv(folder: Path) -> dict[str, dict[str, Any]]:
    """Rows of ``manifest.csv`` in ``folder`` or its parent, keyed by file base name."""
    rows: dict[str, dict[str, Any]] = {}
    for candidate in (folder / "manifest.csv", folder.parent / "manifest.csv"):
        if not candidate.is_file():
            continue
        with candidate.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                name = Path(row.get("file") or "").name
                if name:
                    rows.setdefault(name, _normalise_keys(row))
    return rows


def _normalise_keys(row: Mapping[str, Any]) -> dict[str, Any]:
    """Map the NGC manifest's column names onto ours (developer → publisher, original_url → url)."""
    aliases = {"developer": "publisher", "original_url": "url", "ngc_id": "id", "source_url": "url"}
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key is None or value in (None, ""):
            continue
        out[aliases.get(key.strip().lower(), key.strip().lower())] = value
    return out


def build_meta(path: Path, *sources: Mapping[str, Any]) -> DocumentMeta:
    """Merge metadata ``sources`` (first wins per field) and validate it for ``path``."""
    merged: dict[str, Any] = {}
    for source in reversed(sources):
        merged.update(_normalise_keys(source))
    missing = [f for f in ("title", "publisher", "year") if not str(merged.get(f, "")).strip()]
    if missing:
        raise MetadataError(
            f"{path.name}: refused, metadata lacks {', '.join(missing)} "
            f"(add a {path.name}.meta.json sidecar, front matter, or a manifest.csv row)"
        )
    topics = merged.get("topics") or []
    if isinstance(topics, str):
        topics = [t.strip() for t in topics.split(";") if t.strip()]
    try:
        return DocumentMeta(
            doc_id=str(merged.get("id") or merged.get("doc_id") or slugify(path.stem)),
            title=str(merged["title"]).strip(),
            publisher=str(merged["publisher"]).strip(),
            year=int(str(merged["year"]).strip()[:4]),
            url=str(merged["url"]).strip() if merged.get("url") else None,
            topics=[str(t) for t in topics],
        )
    except (ValueError, ValidationError) as err:
        raise MetadataError(f"{path.name}: metadata is malformed: {err}") from err

"""Evidence for a ranked diagnosis: a guideline passage from the current knowledge release, else the
knowledge-base entry's own sources.

A passage is cited only when the hybrid retriever returns it above the release's minimum similarity
*and* its text names the diagnosis (name or synonym) — a passage about something else is never cited
for it. Results are cached per (release, diagnosis): the query depends on the diagnosis, not on the
patient, so the embedding search runs once per release and diagnosis.
"""

from __future__ import annotations

import re
import threading

from pydantic import BaseModel

from knowledge.diseases import Disease
from knowledge.diseases.kb import normalize_name

_lock = threading.Lock()
_cache: dict[tuple[str, str], Citation | None] = {}


class Citation(BaseModel):
    label: str
    url: str | None = None
    quote: str | None = None
    release_id: str | None = None
    kind: str = "passage"  # passage | knowledge-base


def kb_citations(disease: Disease) -> list[Citation]:
    """The knowledge-base sources of ``disease`` as citations (always at least one)."""
    out = [
        Citation(
            label=f"{s.name} ({s.license})" + (f": {s.detail}" if s.detail else ""),
            url=s.url,
            kind="knowledge-base",
        )
        for s in disease.sources
    ]
    return out or [Citation(label="evidence-cds disease knowledge base", kind="knowledge-base")]


_BRITISH = [
    ("anaem", "anem"),
    ("haem", "hem"),
    ("oedema", "edema"),
    ("oesophag", "esophag"),
    ("aetiol", "etiol"),
]


def _american(text: str) -> str:
    for uk, us in _BRITISH:
        text = text.replace(uk, us)
    return text


def names_disease(text: str, disease: Disease) -> bool:
    """Whether ``text`` names ``disease`` (name or synonym, whole words, British spellings folded)."""
    flat = f" {_american(normalize_name(text))} "
    for name in (disease.name, *disease.synonyms):
        n = normalize_name(name)
        if len(n) >= 4 and f" {n} " in flat:
            return True
    return False


def passage_for(disease: Disease, retriever: object | None) -> Citation | None:
    """The best passage naming ``disease`` in the retriever's release (cached), or ``None``."""
    if retriever is None:
        return None
    release_id = str(getattr(retriever, "release_id", ""))
    key = (release_id, disease.id)
    with _lock:
        if key in _cache:
            return _cache[key]
    found: Citation | None = None
    result = retriever.search(f"{disease.name} diagnosis evaluation", k=5)  # type: ignore[attr-defined]
    for p in result.passages:
        if names_disease(p.text, disease):
            found = Citation(
                label=p.citation(),
                url=p.url,
                quote=_quote(_naming_sentence(p.text, disease)),
                release_id=p.release_id,
            )
            break
    with _lock:
        _cache[key] = found
    return found


def _naming_sentence(text: str, disease: Disease) -> str:
    """The first sentence of ``text`` that names ``disease`` (the part of the passage a card quotes)."""
    for sentence in _SENTENCE.split(text):
        if names_disease(sentence, disease):
            return sentence
    return text


_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def _quote(text: str, limit: int = 280) -> str:
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rsplit(" ", 1)[0] + "…"

"""The findings vocabulary: concepts (symptoms, signs, history, exposures, test results) and their terms.

The default vocabulary is data (``data/findings_vocabulary.tsv``, written by the team, CC0). Callers with
their own concept lists (e.g. a disease knowledge base) pass a :class:`Vocabulary` built from them; the
``clinical`` package itself never imports ``knowledge.diseases``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_VOCABULARY_PATH = DATA_DIR / "findings_vocabulary.tsv"


class Concept(BaseModel):
    """One finding concept: a stable id, a display label, its kind and the phrases that express it."""

    id: str
    label: str
    kind: str = "symptom"  # symptom | sign | history | test
    terms: list[str] = Field(default_factory=list)


class Vocabulary:
    """An immutable set of :class:`Concept` s; ``fingerprint`` identifies it for pipeline caching."""

    def __init__(self, concepts: Iterable[Concept]) -> None:
        self._concepts: dict[str, Concept] = {}
        for c in concepts:
            if c.id in self._concepts:
                raise ValueError(f"duplicate concept id {c.id!r}")
            self._concepts[c.id] = c
        digest = hashlib.sha256()
        for c in self._concepts.values():
            digest.update(f"{c.id}\t{c.label}\t{c.kind}\t{';'.join(c.terms)}\n".encode())
        self.fingerprint = digest.hexdigest()[:16]

    def __len__(self) -> int:
        return len(self._concepts)

    def __contains__(self, concept_id: object) -> bool:
        return concept_id in self._concepts

    def __iter__(self) -> Iterator[Concept]:
        return iter(self._concepts.values())

    @property
    def concepts(self) -> list[Concept]:
        return list(self._concepts.values())

    def get(self, concept_id: str) -> Concept | None:
        return self._concepts.get(concept_id)

    def label(self, concept_id: str) -> str:
        c = self._concepts.get(concept_id)
        return c.label if c else concept_id

    @classmethod
    def from_tsv(cls, path: Path) -> Vocabulary:
        """Read ``id<TAB>kind<TAB>label<TAB>term;term;...`` lines ('#' lines are comments)."""
        concepts: list[Concept] = []
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 4:
                raise ValueError(f"{path.name}:{lineno}: expected 4 tab-separated columns")
            cid, kind, label, terms = parts
            concepts.append(
                Concept(
                    id=cid, kind=kind, label=label, terms=[t.strip() for t in terms.split(";") if t.strip()]
                )
            )
        return cls(concepts)


@lru_cache(maxsize=1)
def default_vocabulary() -> Vocabulary:
    """The packaged vocabulary (loaded once per process)."""
    return Vocabulary.from_tsv(DEFAULT_VOCABULARY_PATH)

"""Loading and querying the disease knowledge base; name matching for evaluation and UI look-ups."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field

from knowledge.diseases.models import Disease

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_KB_PATH = DATA_DIR / "diseases.json"
_NON_WORD = re.compile(r"[^a-z0-9]+")
_STOP = {"the", "of", "disease", "syndrome", "disorder", "acute", "chronic", "s", "and", "with", "type"}


def normalize_name(name: str) -> str:
    """Lower-case, punctuation-free, possessive-free form used for name matching."""
    text = name.lower().replace("’", "'").replace("'s ", " ").replace("'s", "")
    text = re.sub(r"\([^)]*\)", " ", text)  # "BPPV (benign ...)" → keep the main name
    return " ".join(_NON_WORD.sub(" ", text).split())


class KbRelease(BaseModel):
    version: str
    generated: str
    sources: list[dict[str, str]] = Field(default_factory=list)
    diseases: list[Disease]


class DiseaseKB:
    """Diseases by id, with an index of normalized names and synonyms."""

    def __init__(self, release: KbRelease) -> None:
        self.version = release.version
        self.sources = release.sources
        self.diseases = release.diseases
        self._by_id = {d.id: d for d in self.diseases}
        self._by_name: dict[str, list[Disease]] = {}
        for d in self.diseases:
            for n in {d.name, *d.synonyms}:
                self._by_name.setdefault(normalize_name(n), []).append(d)

    def __len__(self) -> int:
        return len(self.diseases)

    def get(self, disease_id: str) -> Disease | None:
        return self._by_id.get(disease_id)

    def names_of(self, disease: Disease) -> set[str]:
        return {normalize_name(n) for n in (disease.name, *disease.synonyms)}

    def lookup(self, name: str) -> list[Disease]:
        """Diseases whose name or synonym equals ``name`` after normalization."""
        return list(self._by_name.get(normalize_name(name), []))

    def matches(self, disease: Disease, gold: str) -> bool:
        """Whether ``gold`` (a free-text diagnosis) names ``disease``.

        Exact normalized match on a name or synonym; else one name contains the other as a whole-word
        phrase (``"cerebral stroke"`` ~ ``"stroke"``), ignoring generic words.
        """
        g = normalize_name(gold)
        names = self.names_of(disease)
        if g in names:
            return True
        g_core = " ".join(w for w in g.split() if w not in _STOP)
        for n in names:
            n_core = " ".join(w for w in n.split() if w not in _STOP)
            if not n_core or not g_core:
                continue
            if n_core == g_core:
                return True
            shorter, longer = sorted((n_core, g_core), key=len)
            # containment only for multi-word names: "kidney" must not match "diabetic kidney disease"
            if len(shorter.split()) >= 2 and f" {shorter} " in f" {longer} ":
                return True
        return False

    @classmethod
    def from_path(cls, path: Path) -> DiseaseKB:
        return cls(KbRelease.model_validate(json.loads(path.read_text(encoding="utf-8"))))


@lru_cache(maxsize=1)
def load_default_kb() -> DiseaseKB:
    """The packaged knowledge base (loaded once per process)."""
    return DiseaseKB.from_path(DEFAULT_KB_PATH)

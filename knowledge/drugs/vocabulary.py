"""The shipped RxNorm vocabulary: codes and names → ingredients (IN), loaded once per process.

Normalises what a MedicationRequest carries to RxNorm ingredients: clinical and branded drugs (SCD,
SBD), packs (GPCK/BPCK: by the component drugs named in the pack's display, since the shipped extract
has no pack rows), ingredient (IN), precise ingredient (PIN → its IN) and multiple-ingredient (MIN)
codes, brand names (BN). Free text is matched by ingredient, salt and brand name
(:meth:`DrugVocabulary.ingredients_for_text`); callers flag such matches (``matched_by_text``).

This module satisfies ``clinical.record.IngredientResolver`` structurally through
:class:`IngredientHit` (``rxcui``, ``name``); it imports nothing from ``clinical`` (knowledge sits
below it).
"""

from __future__ import annotations

import difflib
import gzip
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from knowledge.drugs.names import find_names, normalise
from knowledge.drugs.rxnorm_import import route_group

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
DATA_DIR = Path(__file__).resolve().parent / "data"
VOCABULARY_FILE = DATA_DIR / "rxnorm_vocabulary.tsv.gz"
_PACK_PART = re.compile(r"\(([^()]+)\)")
# Near-miss spellings: words of at least this length, this similarity, this lead over the runner-up.
_CLOSE_MIN_LEN = 7
_CLOSE_CUTOFF = 0.88
_CLOSE_MARGIN = 0.04


class CodeLike(Protocol):
    """A coding as ``clinical.codes.Code`` has it."""

    @property
    def system(self) -> str | None: ...

    @property
    def code(self) -> str | None: ...

    @property
    def display(self) -> str | None: ...


@dataclass(frozen=True)
class IngredientHit:
    """An RxNorm ingredient (IN) found for a code or a name."""

    rxcui: str
    name: str


class DrugVocabulary:
    """Lookup tables over the compact vocabulary file (see :mod:`knowledge.drugs.rxnorm_import`)."""

    def __init__(self, rows: Iterable[tuple[str, str, str, tuple[str, ...]]]) -> None:
        self.ingredient_names: dict[str, str] = {}
        self.code_ingredients: dict[str, tuple[str, ...]] = {}
        self.code_kind: dict[str, str] = {}
        self.name_index: dict[str, tuple[str, ...]] = {}
        self.code_route: dict[str, str] = {}
        self._single: list[str] | None = None
        deferred: list[tuple[str, str, str, tuple[str, ...]]] = []
        for kind, rx, name, ins in rows:
            if kind == "IN":
                self.ingredient_names[rx] = name
                self.code_ingredients[rx] = (rx,)
                self.code_kind[rx] = kind
                self.name_index.setdefault(normalise(name), (rx,))
            else:
                deferred.append((kind, rx, name, ins))
        for kind, rx, name, ins in deferred:
            known = tuple(i for i in ins if i in self.ingredient_names)
            if not known:
                continue
            self.code_ingredients.setdefault(rx, known)
            self.code_kind.setdefault(rx, kind)
            if kind in {"SCD", "SBD"}:
                self.code_route[rx] = name or "systemic"
                continue
            # MIN names ("a / b") are matched through their parts; PIN and brand names directly.
            if name and kind in {"PIN", "BN"}:
                self.name_index.setdefault(normalise(name), known)

    @classmethod
    def load(cls, path: Path = VOCABULARY_FILE) -> DrugVocabulary:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            return cls(_parse(fh))

    # --- clinical.record.IngredientResolver ----------------------------------------------------

    def ingredients_for_codes(self, codes: Sequence[CodeLike]) -> list[IngredientHit]:
        """Ingredients of the first RxNorm coding the vocabulary knows; packs via their display.

        Returns ``[]`` when no RxNorm code is known, so the caller can fall back to the text (and
        flag the match) rather than trusting a guess made from a code.
        """
        for c in codes:
            if c.system != RXNORM or not c.code:
                continue
            ins = self.code_ingredients.get(c.code)
            if ins:
                return self._hits(ins)
        for c in codes:
            if c.system == RXNORM and c.display and "pack" in c.display.lower():
                return self._pack(c.display)
        return []

    def ingredients_for_text(self, text: str) -> list[IngredientHit]:
        """Ingredients named in ``text`` (ingredient, salt or brand names; longest match wins)."""
        if "pack" in text.lower() and "(" in text:
            return self._pack(text)
        found: list[str] = []
        for key in find_names(text, self.name_index):
            found.extend(self.name_index[key])
        if not found:
            found = self._close_names(text)
        return self._hits(found)

    # --- helpers -------------------------------------------------------------------------------

    def route_for(self, codes: Sequence[CodeLike], text: str = "") -> str:
        """Route group of a product ("systemic", "topical", "ophthalmic", ...) from its code or text."""
        for c in codes:
            if c.system == RXNORM and c.code and c.code in self.code_route:
                return self.code_route[c.code]
        return route_group(" ".join([text, *(c.display or "" for c in codes)]))

    def name_of(self, rxcui: str) -> str:
        return self.ingredient_names.get(rxcui, rxcui)

    def rxcui_for_name(self, name: str) -> str | None:
        """The single ingredient a name denotes (exact or salt form), else ``None``."""
        hits = self.name_index.get(normalise(name))
        return hits[0] if hits and len(hits) == 1 else None

    def _close_names(self, text: str) -> list[str]:
        """Ingredients whose single-word name is a near-unique close spelling of a word in ``text``.

        Hand-typed and legacy records misspell drug names ("simvistatin"); missing the ingredient
        would silently miss its interactions. Only long words, a high similarity and a clear margin
        over the runner-up are accepted, so look-alike names (cefuroxime / cefotaxime) never swap.
        """
        words = [w for w in re.findall(r"[a-z]+", normalise(text)) if len(w) >= _CLOSE_MIN_LEN]
        found: list[str] = []
        for word in words:
            best = self._closest(word)
            if best is not None:
                found.extend(self.name_index[best])
        return found

    @lru_cache(maxsize=4096)  # noqa: B019 - one vocabulary per process; words repeat across calls
    def _closest(self, word: str) -> str | None:
        # get_close_matches prefilters with the cheap quick ratios; the margin needs the runner-up,
        # so ask for candidates down to cutoff - margin.
        close = difflib.get_close_matches(
            word, self._single_names(), n=2, cutoff=_CLOSE_CUTOFF - _CLOSE_MARGIN
        )
        if not close:
            return None
        scores = [difflib.SequenceMatcher(None, word, name).ratio() for name in close]
        if scores[0] < _CLOSE_CUTOFF or (len(scores) > 1 and scores[0] - scores[1] < _CLOSE_MARGIN):
            return None
        return close[0]

    def _single_names(self) -> list[str]:
        if self._single is None:
            self._single = [k for k in self.name_index if " " not in k and len(k) >= _CLOSE_MIN_LEN]
        return self._single

    def _pack(self, display: str) -> list[IngredientHit]:
        # "{21 (ethinyl estradiol 0.03 MG / levonorgestrel 0.15 MG Oral Tablet) / 7 (inert ...)} Pack"
        found: list[str] = []
        for part in _PACK_PART.findall(display):
            for key in find_names(part, self.name_index):
                found.extend(self.name_index[key])
        return self._hits(found)

    def _hits(self, rxcuis: Iterable[str]) -> list[IngredientHit]:
        return [IngredientHit(rx, self.ingredient_names[rx]) for rx in dict.fromkeys(rxcuis)]


def _parse(lines: Iterable[str]) -> Iterable[tuple[str, str, str, tuple[str, ...]]]:
    for line in lines:
        if line.startswith("#") or line.startswith("kind\t"):
            continue
        kind, rx, name, ins = line.rstrip("\n").split("\t")
        yield kind, rx, name, tuple(i for i in ins.split(";") if i)


@lru_cache(maxsize=4)
def load_vocabulary(path: Path = VOCABULARY_FILE) -> DrugVocabulary:
    """The process-wide vocabulary (loaded on first use, ~0.3 s)."""
    return DrugVocabulary.load(path)

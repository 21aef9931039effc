"""Drug-name matching: find RxNorm ingredient names inside free text ("warfarin sodium 5 MG Oral Tablet").

Used twice: by the vocabulary importer to recover ingredients a product table lacks (names starting
with "A" are missing from the 2025 prescribable extract) and at run time for medications given only as
text (``Medication.matched_by_text``). Matching is greedy longest-n-gram over lower-cased word tokens,
so "sodium" in "warfarin sodium" is consumed by the precise-ingredient name, and counter-ion words
right after a match are skipped rather than read as ingredients of their own (sodium, potassium,
calcium are also real ingredients).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_TOKEN = re.compile(r"[a-z0-9][a-z0-9\-']*")
MAX_WORDS = 5

# Salt / counter-ion / hydrate words: consumed after a matched ingredient, never matched alone there.
SALT_WORDS = frozenset(
    [
        "sodium",
        "potassium",
        "calcium",
        "magnesium",
        "hydrochloride",
        "hcl",
        "dihydrochloride",
        "sulfate",
        "sulphate",
        "succinate",
        "tartrate",
        "bitartrate",
        "besylate",
        "maleate",
        "mesylate",
        "acetate",
        "citrate",
        "phosphate",
        "bromide",
        "chloride",
        "fumarate",
        "hyclate",
        "monohydrate",
        "dihydrate",
        "trihydrate",
        "hemihydrate",
        "anhydrous",
        "lactate",
        "gluconate",
        "hydrobromide",
        "nitrate",
        "propionate",
        "dipropionate",
        "valerate",
        "furoate",
        "butyrate",
        "palmitate",
        "pamoate",
        "stearate",
        "tromethamine",
        "meglumine",
        "disodium",
        "dipotassium",
        "trisodium",
        "estolate",
        "ethylsuccinate",
        "lauryl",
        "napsylate",
        "oxalate",
        "benzoate",
        "salicylate",
    ]
)


def normalise(name: str) -> str:
    """Lower-case, single-spaced word form used as the key of every name index."""
    return " ".join(_TOKEN.findall(name.lower()))


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def find_names(text: str, index: Mapping[str, object], *, max_words: int = MAX_WORDS) -> list[str]:
    """Normalised names from ``index`` found in ``text``, longest match first, left to right.

    ``index`` keys must be :func:`normalise`-d names. Returns the matched keys in text order, each
    once.
    """
    words = tokens(text)
    found: list[str] = []
    i = 0
    while i < len(words):
        hit = None
        for n in range(min(max_words, len(words) - i), 0, -1):
            key = " ".join(words[i : i + n])
            if key in index:
                hit = key
                i += n
                break
        if hit is None:
            i += 1
            continue
        if hit not in found:
            found.append(hit)
        while i < len(words) and words[i] in SALT_WORDS:
            i += 1
    return found


def strip_salt(name: str) -> str:
    """``"warfarin sodium"`` → ``"warfarin"``: drop trailing counter-ion words (base-name lookup)."""
    words = normalise(name).split()
    while len(words) > 1 and words[-1] in SALT_WORDS:
        words.pop()
    return " ".join(words)


def unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))

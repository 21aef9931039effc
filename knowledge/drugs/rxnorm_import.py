"""Build the compact RxNorm vocabulary the product ships (``data/rxnorm_vocabulary.tsv.gz``).

Inputs (public-domain NLM / VA files, see ``data/PROVENANCE.md``):

* ``rxnorm_prescribable_<date>_ingredients.csv`` — prescribable IN / PIN / MIN concepts;
* ``rxnorm_prescribable_<date>_ingredient_to_products.csv.gz`` — ingredient → SCDC → SCD/SBD rows
  with brand names. Its MIN rows are joined through a shared SCDC and list unrelated products (e.g.
  "benazepril / hydrochlorothiazide" → a lisinopril product), so product ingredients are taken from
  the IN rows only and MIN ingredients from the MIN name;
* ``ndfrt_rxnorm_ingredient_mapping_2014.csv`` — NDF-RT ↔ RxCUI; supplies the ingredients whose names
  start with "A", which the 2025 extract lacks. Products containing such an ingredient get it back by
  name from the product name (single-ingredient "A" products are absent from the extract altogether;
  at run time they resolve by name, flagged).

Output rows (tab-separated): ``kind, rxcui, name, ingredient rxcuis (";")`` with kind one of IN, PIN,
MIN, SCD, SBD, BN; the name column of SCD/SBD rows holds the route group (:func:`route_group`).
The output is deterministic (sorted, gzip mtime 0) so a test can rebuild and compare.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from knowledge.drugs.names import find_names, normalise, strip_salt

INGREDIENTS_GLOB = "rxnorm_prescribable_*_ingredients.csv"
PRODUCTS_GLOB = "rxnorm_prescribable_*_ingredient_to_products.csv.gz"
NDFRT_MAP = "ndfrt_rxnorm_ingredient_mapping_2014.csv"
KINDS = ("IN", "PIN", "MIN", "SCD", "SBD", "BN")
# Dose-form words → route group (SCD/SBD rows carry the group in their name column).
ROUTE_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ophthalmic", ("ophthalmic",)),
    ("otic", ("otic",)),
    ("topical", ("topical", "transdermal", "cutaneous", "medicated patch", "shampoo", "medicated pad")),
    ("nasal", ("nasal",)),
    ("vaginal", ("vaginal",)),
    ("rectal", ("rectal",)),
    ("inhaled", ("inhal", "metered dose")),
)


@dataclass
class VocabularyRows:
    """The vocabulary as rows keyed by (kind, rxcui) → (name, ingredient rxcuis)."""

    rows: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    sources: list[tuple[str, str]] = field(default_factory=list)  # (file name, sha256)

    def add(self, kind: str, rxcui: str, name: str, ingredients: tuple[str, ...] = ()) -> None:
        self.rows[(kind, rxcui)] = (name, tuple(sorted(set(ingredients), key=int)))


def _one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    if not found:
        raise FileNotFoundError(f"no {pattern} in {folder}")
    return found[-1]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_vocabulary(rxnorm_dir: Path) -> VocabularyRows:
    """Read the RxNorm / NDF-RT files in ``rxnorm_dir`` and return the compact vocabulary rows."""
    ing_path, prod_path = _one(rxnorm_dir, INGREDIENTS_GLOB), _one(rxnorm_dir, PRODUCTS_GLOB)
    ndfrt_path = rxnorm_dir / NDFRT_MAP
    out = VocabularyRows(sources=[(p.name, _sha256(p)) for p in (ing_path, prod_path, ndfrt_path)])

    with ing_path.open(newline="", encoding="utf-8") as fh:
        concepts = list(csv.DictReader(fh))
    in_names = {c["ingredient_rxcui"]: c["ingredient_name"] for c in concepts if c["tty"] == "IN"}
    a_ins, a_pins = _a_ingredients_from_ndfrt(ndfrt_path, set(in_names))
    in_names.update(a_ins)
    by_name = {normalise(n): rx for rx, n in in_names.items()}
    for rx, name in in_names.items():
        out.add("IN", rx, name)
    for rx, (name, base) in a_pins.items():
        out.add("PIN", rx, name, (base,))

    with gzip.open(prod_path, "rt", newline="", encoding="utf-8") as fh:
        product_rows = list(csv.DictReader(fh))
    scdc_in: dict[str, set[str]] = defaultdict(set)
    product_ins: dict[str, set[str]] = defaultdict(set)
    product_meta: dict[str, tuple[str, str, str, str]] = {}
    for r in product_rows:
        product_meta[r["product_rxcui"]] = (
            r["product_tty"],
            r["product_name"],
            r["brand_rxcui"],
            r["brand_name"],
        )
        if r["ingredient_tty"] == "IN":
            scdc_in[r["scdc_rxcui"]].add(r["ingredient_rxcui"])
            product_ins[r["product_rxcui"]].add(r["ingredient_rxcui"])

    # Name index for recovering the missing "A" ingredients from product names: every IN and PIN
    # name (longest match wins, so "benzyl alcohol" is not read as "alcohol").
    name_index: dict[str, str] = dict(by_name)
    for name, base in a_pins.values():
        name_index[normalise(name)] = base
    pin_rows = [c for c in concepts if c["tty"] == "PIN"]
    pin_scdc: dict[str, set[str]] = defaultdict(set)
    for r in product_rows:
        if r["ingredient_tty"] == "PIN":
            pin_scdc[r["ingredient_rxcui"]] |= scdc_in.get(r["scdc_rxcui"], set())
    for c in pin_rows:
        bases = pin_scdc.get(c["ingredient_rxcui"]) or _by_name(c["ingredient_name"], name_index)
        if bases:
            out.add("PIN", c["ingredient_rxcui"], c["ingredient_name"], tuple(bases))
            name_index.setdefault(normalise(c["ingredient_name"]), sorted(bases)[0])
    for c in concepts:
        if c["tty"] == "MIN":
            parts = [_by_name(p, name_index) for p in c["ingredient_name"].split(" / ")]
            found = {rx for part in parts for rx in part}
            if found:
                out.add("MIN", c["ingredient_rxcui"], c["ingredient_name"], tuple(found))

    brand_ins: dict[str, set[str]] = defaultdict(set)
    brand_names: dict[str, str] = {}
    a_rxcuis = set(a_ins)
    for rx, (tty, name, brand_rx, brand_name) in product_meta.items():
        ins = set(product_ins.get(rx, set()))
        for key in find_names(name, name_index):
            if name_index[key] in a_rxcuis:
                ins.add(name_index[key])
        if not ins:
            continue
        out.add(tty, rx, route_group(name), tuple(ins))
        if brand_rx:
            brand_ins[brand_rx] |= ins
            brand_names[brand_rx] = brand_name
    for brand_rx, ins in brand_ins.items():
        out.add("BN", brand_rx, brand_names[brand_rx], tuple(ins))
    return out


def route_group(product_name: str) -> str:
    """Coarse route of a product from its dose form: the PDDI rules treat topical NSAIDs apart."""
    lowered = product_name.lower()
    for group, words in ROUTE_WORDS:
        if any(w in lowered for w in words):
            return group
    return "systemic"


def _by_name(name: str, index: dict[str, str]) -> set[str]:
    key = normalise(name)
    if key in index:
        return {index[key]}
    base = strip_salt(name)
    return {index[base]} if base in index else set()


def _a_ingredients_from_ndfrt(
    path: Path, known: set[str]
) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """Ingredients (and salts) whose names start with "A" from the 2014 NDF-RT ↔ RxCUI map.

    ``[Chemical/Ingredient]`` rows give the ingredient concepts; a name that is another candidate's
    name plus counter-ion words (``ATORVASTATIN CALCIUM``) is a precise ingredient of it.
    """
    suffix = " [Chemical/Ingredient]"
    candidates: dict[str, str] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter=";"):
            name = row["drugname"]
            if not name.endswith(suffix) or not name.lower().startswith("a"):
                continue
            rx, bare = row["rxcui"], name[: -len(suffix)].strip()
            if rx in known or "/" in bare:
                continue
            candidates.setdefault(rx, bare)
    by_name = {normalise(n): rx for rx, n in candidates.items()}
    ins: dict[str, str] = {}
    pins: dict[str, tuple[str, str]] = {}
    for rx, name in sorted(candidates.items(), key=lambda kv: int(kv[0])):
        base = strip_salt(name)
        if base != normalise(name) and base in by_name and by_name[base] != rx:
            pins[rx] = (name.lower(), by_name[base])
        else:
            ins[rx] = name.lower()
    return ins, pins


def render(vocab: VocabularyRows) -> str:
    """The TSV text: provenance comment lines, a header, rows sorted by kind then numeric rxcui."""
    buf = io.StringIO()
    buf.write("# evidence-cds compact RxNorm vocabulary (derived; public-domain NLM RxNorm / VA NDF-RT)\n")
    for name, digest in vocab.sources:
        buf.write(f"# source\t{name}\tsha256={digest}\n")
    buf.write("kind\trxcui\tname\tingredients\n")
    order = {k: i for i, k in enumerate(KINDS)}
    for (kind, rx), (name, ins) in sorted(
        vocab.rows.items(), key=lambda kv: (order[kv[0][0]], int(kv[0][1]))
    ):
        buf.write(f"{kind}\t{rx}\t{name}\t{';'.join(ins)}\n")
    return buf.getvalue()


def write_vocabulary(vocab: VocabularyRows, path: Path) -> None:
    """Write deterministic gzip (mtime 0) so rebuilding from the same inputs gives the same bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(render(vocab).encode("utf-8"))

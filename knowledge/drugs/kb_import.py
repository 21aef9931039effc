"""Build the interaction knowledge base (``data/interaction_kb.json``) from public lists.

Sources (``data/PROVENANCE.md``): the ONC high-priority list (Phansalkar 2012; severity
``high-priority``), the ONC non-interruptive list (Phansalkar 2013; ``low``), the VA NDF-RT pairs
(``critical`` / ``significant``) and the two pairs of the HL7 PDDI CDS guide (warfarin + NSAIDs, digoxin
+ cyclosporine; ``significant`` before their context rules). Class rows are expanded to member
ingredients here, so lookup at run time is by ingredient pair. Member names are resolved against the
shipped RxNorm vocabulary; the source's documented typos (``data_notes``) are corrected, artefacts it
flags are dropped, and names still unresolved are listed in ``unresolved`` rather than guessed.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

from knowledge.drugs.kb import (
    DrugSet,
    InteractionEntry,
    InteractionKB,
    KbSource,
    Member,
    SourceSeverity,
    TierText,
)
from knowledge.drugs.vocabulary import DrugVocabulary

DATA_DIR = Path(__file__).resolve().parent / "data"
ONC_HP = "onc_high_priority_ddi_2012.csv"
ONC_NI = "onc_non_interruptive_ddi_2013.csv"
NDFRT = "ndfrt_interactions.tsv"
UNII_MAP = "fda_unii_rxnorm_drugbank_chebi_mapping_2014.tsv"
_TYPO = re.compile(r"'([^']+)'\s*=\s*([A-Za-z][A-Za-z \-]+?)\s*\(typo")
_DROP = re.compile(r"lists '([^']+)' among .*drop it")

SOURCES = {
    "onc-high-priority-2012": KbSource(
        id="onc-high-priority-2012",
        label="ONC high-priority drug-drug interactions",
        citation="Phansalkar S, et al. High-priority drug-drug interactions for use in electronic health "
        "records. J Am Med Inform Assoc. 2012;19(5):735-743.",
        url="https://doi.org/10.1136/amiajnl-2011-000612",
        licence="facts from a publication",
    ),
    "onc-non-interruptive-2013": KbSource(
        id="onc-non-interruptive-2013",
        label="ONC non-interruptive drug-drug interactions",
        citation="Phansalkar S, et al. Drug-drug interactions that should be non-interruptive in order to "
        "reduce alert fatigue in electronic health records. J Am Med Inform Assoc. 2013;20(3):489-493.",
        url="https://doi.org/10.1136/amiajnl-2012-001089",
        licence="facts from a publication",
    ),
    "ndfrt": KbSource(
        id="ndfrt",
        label="VA NDF-RT drug interactions",
        citation="Veterans Health Administration National Drug File - Reference Terminology (NDF-RT), "
        "drug-drug interactions, via the dbmi-pitt merged PDDI dataset.",
        url="https://github.com/dbmi-pitt/public-PDDI-analysis",
        licence="US-government work (public domain)",
    ),
    "hl7-pddi-cds": KbSource(
        id="hl7-pddi-cds",
        label="HL7 Potential Drug-Drug Interaction CDS guide",
        citation="HL7 International Clinical Decision Support WG. Potential Drug-Drug Interaction (PDDI) "
        "CDS Implementation Guide.",
        url="https://build.fhir.org/ig/HL7/PDDI-CDS/",
        licence="CC0",
    ),
}


def build_kb(
    ddi_dir: Path, rxnorm_dir: Path, vocab: DrugVocabulary, data_dir: Path = DATA_DIR
) -> InteractionKB:
    """Read the source lists and the team's authored files and return the expanded KB."""
    texts: dict[str, Any] = json.loads((data_dir / "interaction_text.json").read_text(encoding="utf-8"))
    classes: dict[str, Any] = json.loads((data_dir / "drug_classes.json").read_text(encoding="utf-8"))
    rules: dict[str, Any] = json.loads((data_dir / "context_rules.json").read_text(encoding="utf-8"))
    resolver = _Resolver(vocab, classes.get("_synonyms", {}))
    entries: list[InteractionEntry] = []

    with (ddi_dir / ONC_HP).open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            fixes, drops = _notes(row["data_notes"])
            obj = _split(row["object_drugs"]) or [row["pair_label"].split(" / ")[0]]
            pre = _split(row["precipitant_drugs"])
            if not row["object_drugs"] and not pre and row["object_class"].startswith("QT"):
                obj = pre = list(classes["qt_known_risk"]["members"])
            entry_id = f"onc-hp-{row['seq']}"
            label_obj, label_pre = [*row["pair_label"].split(" / ", 1), ""][:2]
            entries.append(
                _entry(
                    entry_id,
                    row["pair_label"],
                    resolver.drug_set(entry_id, label_obj, obj, fixes, drops),
                    resolver.drug_set(entry_id, label_pre, pre, fixes, drops),
                    SourceSeverity.high_priority,
                    "onc-high-priority-2012",
                    texts,
                )
            )

    with (ddi_dir / ONC_NI).open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            fixes, drops = _notes(row["data_notes"])
            entry_id = f"onc-ni-{row['source_row_id']}"
            sides = []
            for cls_key, drugs_key in (
                ("object_class", "object_drugs"),
                ("precipitant_class", "precipitant_drugs"),
            ):
                label = row[cls_key] or row[drugs_key]
                names = _split(row[drugs_key]) or [label]
                if "salicylate" in label.lower() and "artifact" in row["data_notes"]:
                    names = ["aspirin", "salsalate", "diflunisal"]  # the note: use the salicylate class
                sides.append(resolver.drug_set(entry_id, label, names, fixes, drops))
            label = f"{sides[0].label} / {sides[1].label}"
            entries.append(
                _entry(
                    entry_id,
                    label,
                    sides[0],
                    sides[1],
                    SourceSeverity.low,
                    "onc-non-interruptive-2013",
                    texts,
                )
            )

    db_to_rxcui = _drugbank_map(rxnorm_dir / UNII_MAP)
    with (ddi_dir / NDFRT).open(newline="", encoding="utf-8") as fh:
        for n, row in enumerate(csv.DictReader(fh, delimiter="\t"), start=1):
            entry_id = f"ndfrt-{n}"
            a = resolver.drug(entry_id, row["object"], db_to_rxcui.get(_db_id(row["drug1"])))
            b = resolver.drug(entry_id, row["precipitant"], db_to_rxcui.get(_db_id(row["drug2"])))
            severity = (
                SourceSeverity.critical if row["severity"] == "Critical" else SourceSeverity.significant
            )
            entries.append(_entry(entry_id, f"{a.label} / {b.label}", a, b, severity, "ndfrt", texts))

    for rule in rules["rules"]:
        entry_id = rule["entry"]
        sides = [
            resolver.drug_set(entry_id, classes[c]["label"], classes[c]["members"], {}, set())
            for c in (rule["object_class"], rule["precipitant_class"])
        ]
        entry = _entry(
            entry_id, rule["label"], sides[0], sides[1], SourceSeverity.significant, rule["source"], texts
        )
        entry.context_rule = rule["id"]
        entries.append(entry)

    # An entry with a side that resolved to nothing cannot fire; its names stay in ``unresolved``.
    usable = [e for e in entries if e.object.members and e.precipitant.members]
    return InteractionKB(
        version=rules.get("kb_version", "1"),
        sources=SOURCES,
        entries=usable,
        tier_text={SourceSeverity(k): TierText(**v) for k, v in texts["_tier"].items()},
        unresolved={k: sorted(v) for k, v in sorted(resolver.unresolved.items())},
    )


def _entry(
    entry_id: str,
    label: str,
    obj: DrugSet,
    pre: DrugSet,
    severity: SourceSeverity,
    source: str,
    texts: dict[str, Any],
) -> InteractionEntry:
    own = texts.get(entry_id) or {}
    return InteractionEntry(
        id=entry_id,
        label=label,
        object=obj,
        precipitant=pre,
        severity=severity,
        source=source,
        mechanism=own.get("mechanism", ""),
        management=own.get("management", ""),
        risk=own.get("risk", ""),
        topic=own.get("topic", label),
    )


class _Resolver:
    """Names → ingredients via the vocabulary, remembering what did not resolve per entry."""

    def __init__(self, vocab: DrugVocabulary, synonyms: dict[str, str]) -> None:
        self.vocab = vocab
        self.synonyms = synonyms
        self.unresolved: dict[str, set[str]] = {}

    def drug_set(
        self, entry_id: str, label: str, names: list[str], fixes: dict[str, str], drops: set[str]
    ) -> DrugSet:
        members: dict[str, Member] = {}
        for raw in names:
            if raw.lower() in drops:
                continue
            name = fixes.get(raw.lower(), raw).replace("’", "'").replace("_", " ")
            name = self.synonyms.get(name.lower(), name)
            rx = self.vocab.rxcui_for_name(name)
            if rx is None:
                self.unresolved.setdefault(entry_id, set()).add(name)
                continue
            members.setdefault(rx, Member(rxcui=rx, name=self.vocab.name_of(rx)))
        return DrugSet(label=label.strip(), members=sorted(members.values(), key=lambda m: int(m.rxcui)))

    def drug(self, entry_id: str, name: str, rxcui: str | None) -> DrugSet:
        ins = self.vocab.code_ingredients.get(rxcui or "", ())
        if len(ins) == 1:
            return DrugSet(
                label=self.vocab.name_of(ins[0]),
                members=[Member(rxcui=ins[0], name=self.vocab.name_of(ins[0]))],
            )
        return self.drug_set(entry_id, name.lower(), [name], {}, set())


def _split(value: str) -> list[str]:
    return [p.strip() for p in value.split(";") if p.strip()]


def _notes(note: str) -> tuple[dict[str, str], set[str]]:
    fixes = {wrong.lower(): right.strip() for wrong, right in _TYPO.findall(note)}
    drops = {d.lower() for d in _DROP.findall(note)}
    return fixes, drops


def _db_id(url: str) -> str:
    return url.rsplit(":", 1)[-1]


def _drugbank_map(path: Path) -> dict[str, str]:
    """DrugBank id → RxCUI (first listed) from the FDA UNII ↔ RxNorm ↔ DrugBank table."""
    out: dict[str, str] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            db, rx = row["DrugBank_CUI"], row["RxNorm_CUI"]
            if db and db != "None" and rx and rx != "None":
                out.setdefault(db, rx)
    return out

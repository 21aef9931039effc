"""``evidence-cds drugs``: rebuild the shipped drug tables from public files, and look up interactions.

    evidence-cds drugs import --rxnorm ../shared/data/rxnorm --ddi ../shared/data/ddi [--out DIR]
    evidence-cds drugs check warfarin ibuprofen [--age 78]

``import`` writes ``rxnorm_vocabulary.tsv.gz`` and ``interaction_kb.json`` (default: the package's
``data/`` folder, i.e. what the product ships) and prints what changed. ``check`` runs the pure
decision function for a new order of the first drug against the others as active medications.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import click

from knowledge.drugs.context_rules import ObservationLike, ProblemLike
from knowledge.drugs.vocabulary import CodeLike

DATA_DIR = Path(__file__).resolve().parent / "data"


@click.group("drugs")
def drugs_group() -> None:
    """Drug vocabulary, interaction knowledge base and context rules."""


@drugs_group.command("import")
@click.option(
    "--rxnorm", "rxnorm_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True
)
@click.option(
    "--ddi", "ddi_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True
)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=DATA_DIR)
def import_cmd(rxnorm_dir: Path, ddi_dir: Path, out_dir: Path) -> None:
    """Build the compact vocabulary and the KB from RxNorm / NDF-RT / ONC files."""
    from knowledge.drugs.kb import kb_to_json
    from knowledge.drugs.kb_import import build_kb
    from knowledge.drugs.rxnorm_import import build_vocabulary, write_vocabulary
    from knowledge.drugs.vocabulary import DrugVocabulary

    rows = build_vocabulary(rxnorm_dir)
    vocab_path = out_dir / "rxnorm_vocabulary.tsv.gz"
    write_vocabulary(rows, vocab_path)
    vocab = DrugVocabulary.load(vocab_path)
    kb = build_kb(ddi_dir, rxnorm_dir, vocab)
    kb_path = out_dir / "interaction_kb.json"
    kb_path.write_text(kb_to_json(kb), encoding="utf-8")
    click.echo(f"vocabulary: {len(rows.rows)} rows → {vocab_path}")
    click.echo(f"knowledge base: {len(kb.entries)} entries, {kb.pair_count} ingredient pairs → {kb_path}")
    click.echo(
        f"names not found in RxNorm: {sum(len(v) for v in kb.unresolved.values())} (listed in the KB file)"
    )


@drugs_group.command("check")
@click.argument("names", nargs=-1, required=True)
@click.option("--age", type=int, default=None, help="patient age in years (for age-dependent rules)")
def check_cmd(names: tuple[str, ...], age: int | None) -> None:
    """Interactions of a new order for NAMES[0] with NAMES[1:] taken as active medications."""
    from knowledge.drugs.context_rules import default_rulebook
    from knowledge.drugs.interactions import find_interactions
    from knowledge.drugs.kb import load_kb
    from knowledge.drugs.vocabulary import load_vocabulary

    vocab = load_vocabulary()
    now = datetime.now(UTC)
    meds = []
    for n, name in enumerate(names):
        hits = vocab.ingredients_for_text(name)
        if not hits:
            raise click.BadParameter(f"no RxNorm ingredient named in {name!r}")
        meds.append(_Med(f"m{n}", name, {h.rxcui for h in hits}, draft=n == 0, when=now))
    record = _Record(meds, age, now)
    findings = find_interactions(record, kb=load_kb(), rules=default_rulebook(), vocab=vocab, now=now)
    if not findings:
        click.echo("no listed interaction")
    for f in findings:
        facts = "; ".join(x.text or "" for x in f.facts if x.text)
        click.echo(f"{f.indicator or 'silent':<9} {f.entry.id:<28} {f.entry.label}  {facts}")


class _Med:
    def __init__(self, sid: str, text: str, ids: set[str], *, draft: bool, when: datetime) -> None:
        self.source_id, self.text = sid, text
        self.codes: list[CodeLike] = []
        self.status = "draft" if draft else "active"
        self.authored_on, self.is_draft, self.ingredient_ids = when, draft, ids


class _Record:
    def __init__(self, meds: list[_Med], age: int | None, now: datetime) -> None:
        self.medications = [m for m in meds if not m.is_draft]
        self.draft_medications = [m for m in meds if m.is_draft]
        self.problems: list[ProblemLike] = []
        self.observations: list[ObservationLike] = []
        self._age, self._now = age, now

    def age_years(self, on: date | None = None) -> int | None:
        return self._age

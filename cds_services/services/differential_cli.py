"""``evidence-cds ddx``: rebuild the disease knowledge base, evaluate the differential pipeline.

Lives beside the service (not in ``knowledge.diseases``) because evaluation runs the service's own
pipeline — clinical NLP and the ranking — which ``knowledge`` must not import.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.group("ddx")
def ddx_group() -> None:
    """Differential diagnosis: knowledge base import and evaluation."""


@ddx_group.command("eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--report", type=click.Path(dir_okay=False, path_type=Path), help="Write the per-case JSON report."
)
@click.option(
    "--without-named-diagnoses",
    is_flag=True,
    help="Ablation: rank on findings alone, ignoring diagnoses the text names.",
)
def eval_command(file: Path, report: Path | None, without_named_diagnoses: bool) -> None:
    """Top-1/3/10 accuracy of text → findings → ranking on FILE (JSON lines: id, text, diagnosis, ...)."""
    from cds_services.services.differential_eval import CaseFileError, evaluate, read_cases, write_report
    from knowledge.diseases import load_default_kb

    try:
        cases = read_cases(file)
    except CaseFileError as err:
        raise click.ClickException(str(err)) from err
    kb = load_default_kb()
    result = evaluate(cases, kb, file=str(file), named_diagnoses=not without_named_diagnoses)
    click.echo(f"{file.name}: {result.n} cases, disease KB {kb.version} ({len(kb)} diagnoses)")
    click.echo("| top-1 | top-3 | top-10 | gold in KB | gold with findings | top-1/3/10 on those |")
    click.echo("|---|---|---|---|---|---|")
    t, r = result.top, result.top_rankable
    click.echo(
        f"| {t['top1']:.1%} | {t['top3']:.1%} | {t['top10']:.1%} | {result.in_kb:.1%} "
        f"| {result.rankable:.1%} | {r['top1']:.1%} / {r['top3']:.1%} / {r['top10']:.1%} |"
    )
    if report is not None:
        write_report(result, report)
        click.echo(f"per-case report: {report}")


@ddx_group.command("import")
@click.option(
    "--do-source",
    type=click.Path(exists=True, path_type=Path),
    required=True,
    help="Human Disease Ontology checkout or bare git snapshot (e.g. from the fetch tool).",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
def import_command(do_source: Path, out: Path | None) -> None:
    """Regenerate knowledge/diseases/data/diseases.json from DO + the team supplement."""
    from clinical.nlp.vocabulary import DEFAULT_VOCABULARY_PATH
    from knowledge.diseases.importer import ImportProblem, build_kb, write_kb
    from knowledge.diseases.kb import DEFAULT_KB_PATH

    try:
        document = build_kb(do_source, DEFAULT_VOCABULARY_PATH)
    except ImportProblem as err:
        raise click.ClickException(str(err)) from err
    target = out or DEFAULT_KB_PATH
    write_kb(document, target)
    click.echo(f"{target}: {len(document['diseases'])} diagnoses")

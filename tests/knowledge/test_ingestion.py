"""Ingestion: metadata sources and refusals, Markdown/HTML/PDF sections, chunk provenance, duplicates."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from knowledge.chunking import chunk_document, detect_grade
from knowledge.config import KnowledgeConfig
from knowledge.library import Library
from knowledge.parsing import parse_bytes, parse_html, parse_markdown

MD = """# Anticoagulation notes

Intro line.

## Bleeding

Warfarin and NSAIDs together raise bleeding risk.

### Gastroprotection

A proton pump inhibitor lowers upper GI bleeding risk. (B recommendation)
"""


def _pdf(lines: list[str]) -> bytes:
    """A minimal one-page PDF with real text objects (Helvetica), built by hand for the test."""
    text = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(f"({line}) Tj T*" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(text)} >>\nstream\n{text}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer << /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def test_markdown_sections_keep_heading_path_and_offsets() -> None:
    parsed = parse_markdown(MD)
    paths = [s.path for s in parsed.sections]
    assert paths == [
        ("Anticoagulation notes",),
        ("Anticoagulation notes", "Bleeding"),
        ("Anticoagulation notes", "Bleeding", "Gastroprotection"),
    ]
    chunks = chunk_document("doc", parsed, chunk_size=60, chunk_overlap=10)
    assert len(chunks) > 3  # long sections were split further
    for c in chunks:
        assert parsed.text[c.char_start : c.char_end] == c.text
    assert chunks[-1].grade == "USPSTF Grade B"


def test_real_guideline_chunks_are_exact_slices_with_grades(guideline_dir: Path) -> None:
    parsed = parse_markdown((guideline_dir / "ngc-10097.md").read_text())
    chunks = chunk_document("ngc-10097", parsed)
    assert all(parsed.text[c.char_start : c.char_end] == c.text for c in chunks)
    assert all(len(c.text) <= 1000 for c in chunks)
    assert {"Major Recommendations"} <= {c.section_path[-1] for c in chunks}
    assert "USPSTF I statement" in {c.grade for c in chunks}
    # overlap: consecutive pieces of one section share text
    same = [(a, b) for a, b in itertools.pairwise(chunks) if a.section_path == b.section_path]
    assert any(b.char_start < a.char_end for a, b in same)


def test_html_headings_become_sections_and_meta_tags_metadata() -> None:
    html = """<html><head><title>Page title</title><meta name="citation_publisher" content="CDC">
    <meta name="citation_date" content="2016-03-18"></head><body><nav>skip</nav>
    <h1>Opioids</h1><p>Intro.</p><h2>Dosing</h2><ul><li>Start low.</li><li>Go slow.</li></ul>
    <script>alert(1)</script></body></html>"""
    parsed = parse_html(html)
    assert parsed.hints == {"publisher": "CDC", "year": "2016-03-18", "title": "Page title"}
    assert ("Opioids", "Dosing") in [s.path for s in parsed.sections]
    assert "alert" not in parsed.text
    assert "- Start low." in parsed.text


def test_pdf_text_is_extracted_per_page() -> None:
    parsed = parse_bytes("pdf", _pdf(["Digoxin levels rise with cyclosporine.", "Check potassium."]))
    assert parsed.sections[0].path == ("page 1",)
    assert "Digoxin levels rise with cyclosporine." in parsed.text


@pytest.mark.parametrize(
    ("text", "grade"),
    [
        ("Offer screening. (A recommendation)", "USPSTF Grade A"),
        ("The evidence is insufficient. (I statement)", "USPSTF I statement"),
        ("We suggest home monitoring. (Weak for)", "Weak for"),
        ("Strength of recommendation: strong", "Strong"),
        ("Screen adults for obesity. [B]", "Evidence grade B"),
        ("No grade is stated here.", None),
    ],
)
def test_recommendation_grade_detection(text: str, grade: str | None) -> None:
    assert detect_grade(text) == grade


@pytest.mark.parametrize("missing", ["title", "publisher", "year"])
def test_documents_without_citation_metadata_are_refused(
    make_config: Callable[..., KnowledgeConfig], tmp_path: Path, missing: str
) -> None:
    meta = {"title": "T", "publisher": "P", "year": 2020}
    del meta[missing]
    doc = tmp_path / "note.md"
    doc.write_text("# Note\n\nSome text.\n")
    (tmp_path / "note.md.meta.json").write_text(json.dumps(meta))
    [result] = Library(make_config()).add_files([doc], "test")
    assert result.outcome == "refused"
    assert "note.md" in result.message and missing in result.message


def test_metadata_precedence_sidecar_over_front_matter_and_manifest(
    make_config: Callable[..., KnowledgeConfig], tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text(
        "---\ntitle: From front matter\npublisher: FM\nyear: 2019\n---\n# A\n\nBody a.\n"
    )
    (folder / "a.md.meta.yaml").write_text("title: From sidecar\n")
    (folder / "b.md").write_text("# B\n\nBody b.\n")
    (folder / "manifest.csv").write_text(
        "file,ngc_id,title,developer,year,original_url\nsub/b.md,ngc-1,From manifest,AHRQ,2014,https://x.test/b\n"
    )
    lib = Library(make_config())
    results = {r.source: r for r in lib.add_files([folder / "a.md", folder / "b.md"], "test")}
    a, b = lib.index()["a"].meta, lib.index()["ngc-1"].meta
    assert (a.title, a.publisher, a.year) == ("From sidecar", "FM", 2019)
    assert (b.title, b.publisher, b.year, b.url) == ("From manifest", "AHRQ", 2014, "https://x.test/b")
    assert results["b.md"].doc_id == "ngc-1"


def test_duplicates_unchanged_and_changed_documents(
    make_config: Callable[..., KnowledgeConfig], tmp_path: Path
) -> None:
    lib = Library(make_config())
    body = "---\ntitle: T\npublisher: P\nyear: 2020\n---\n# T\n\nSame words.\n"
    first = lib.add_bytes("one.md", body.encode(), "test")
    again = lib.add_bytes("one.md", body.encode(), "test")
    copy = lib.add_bytes("two.md", body.encode(), "test")
    changed = lib.add_bytes("one.md", body.replace("Same", "Other").encode(), "test")
    assert [first.outcome, again.outcome, copy.outcome, changed.outcome] == [
        "added",
        "unchanged",
        "duplicate",
        "changed",
    ]
    assert "one" in copy.message
    assert list(lib.index()) == ["one"]


@pytest.mark.parametrize(
    ("name", "data", "needle"),
    [
        ("notes.txt", b"text", "unsupported file type"),
        ("broken.pdf", b"not a pdf", "PDF"),
        ("latin.md", "---\ntitle: x\n---\n\xe9".encode("latin-1"), "UTF-8"),
    ],
)
def test_unreadable_files_are_refused_with_a_clear_message(
    make_config: Callable[..., KnowledgeConfig], name: str, data: bytes, needle: str
) -> None:
    result = Library(make_config()).add_bytes(
        name, data, "test", {"title": "t", "publisher": "p", "year": 2020}
    )
    assert result.outcome == "refused"
    assert needle in result.message

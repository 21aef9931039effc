"""Sections → retrieval chunks with exact provenance.

Structure first: every chunk stays inside one heading-path section (:mod:`knowledge.parsing` splits
at headings itself because langchain's ``MarkdownHeaderTextSplitter`` rewrites whitespace and loses
character offsets); long sections are then cut by langchain-text-splitters'
``RecursiveCharacterTextSplitter`` (paragraph → line → sentence → word) with overlap, and
``add_start_index`` gives each piece's offset, so ``normalised_text[char_start:char_end] == chunk.text``.

A chunk records the recommendation grade or strength when its own text states one (USPSTF letter
grades and I statements, VA/DoD "Strong for"/"Weak against", bracketed evidence grades).
"""

from __future__ import annotations

import hashlib
import re

from langchain_text_splitters import RecursiveCharacterTextSplitter
from pydantic import BaseModel

from knowledge.parsing import ParsedText

DEFAULT_CHUNK_SIZE = 1000
DEFAULT_CHUNK_OVERLAP = 150

_GRADE_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\(([ABCD]) recommendation\)"), "USPSTF Grade {0}"),
    (re.compile(r"\(I statement\)"), "USPSTF I statement"),
    (re.compile(r"\b[Gg]rade ([ABCD])\b(?! [Dd]efinitions)"), "Grade {0}"),
    (re.compile(r"\((Strong|Weak) (for|against)\)"), "{0} {1}"),
    (re.compile(r"[Ss]trength of recommendation:?\s*(strong|moderate|weak|conditional)", re.I), "{0}"),
    (re.compile(r"\[([ABCD])\](?=\s*$)", re.M), "Evidence grade {0}"),
]


class Chunk(BaseModel):
    """One retrievable passage of a document, with where it came from."""

    chunk_id: str
    doc_id: str
    index: int
    text: str
    section_path: list[str]
    char_start: int
    char_end: int
    content_hash: str
    grade: str | None = None


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def detect_grade(text: str) -> str | None:
    """The first recommendation grade/strength stated in ``text``, normalised; ``None`` if none."""
    for pattern, label in _GRADE_PATTERNS:
        match = pattern.search(text)
        if match:
            groups = list(match.groups())
            if groups and groups[0].islower():  # "strength of recommendation: strong" → "Strong"
                groups[0] = groups[0].capitalize()
            return label.format(*groups) if groups else label
    return None


def chunk_document(
    doc_id: str,
    parsed: ParsedText,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    chunk_overlap: int = DEFAULT_CHUNK_OVERLAP,
) -> list[Chunk]:
    """Split ``parsed`` into chunks that never cross a section boundary."""
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        add_start_index=True,
        separators=["\n\n", "\n", ". ", "; ", " ", ""],
        keep_separator="end",
    )
    chunks: list[Chunk] = []
    for section in parsed.sections:
        body = parsed.text[section.start : section.end]
        for piece in splitter.create_documents([body]):
            text = piece.page_content
            if not text.strip():
                continue
            start = section.start + int(piece.metadata["start_index"])
            end = start + len(text)
            if parsed.text[start:end] != text:  # the splitter could not locate it; never guess offsets
                found = parsed.text.find(text, section.start, section.end)
                if found < 0:
                    continue
                start, end = found, found + len(text)
            index = len(chunks)
            chunks.append(
                Chunk(
                    chunk_id=f"{doc_id}#{index:04d}",
                    doc_id=doc_id,
                    index=index,
                    text=text,
                    section_path=list(section.path),
                    char_start=start,
                    char_end=end,
                    content_hash=sha256(text),
                    grade=detect_grade(text),
                )
            )
    return chunks


def embedding_input(title: str, chunk: Chunk) -> str:
    """The text that is embedded and BM25-indexed: title and heading path give a chunk its context."""
    path = " > ".join(p for p in chunk.section_path if p != title)
    return f"{title}\n{path}\n{chunk.text}" if path else f"{title}\n{chunk.text}"

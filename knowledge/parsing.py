"""Markdown, HTML and PDF → one normalised text plus the sections that keep their heading path.

Every later offset (a chunk's ``char_start``/``char_end``) points into :attr:`ParsedText.text`, the
*normalised* text, so a citation can be re-located exactly: ``text[start:end] == chunk.text``.
Normalisation is deliberately small (Unicode NFC, ``\\n`` line ends, no trailing blanks, at most one
empty line in a row) so the stored text still reads like the source.

HTML is read with BeautifulSoup (headings become Markdown headings, block elements become lines);
PDF with pypdf, one section per page because PDF carries no reliable heading structure.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from bs4 import BeautifulSoup, Tag

_ATX = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^(```|~~~)")
_BLOCK_TAGS = [
    *("p", "div", "li", "tr", "br", "section", "article", "table", "ul", "ol", "pre"),
    *("blockquote", "dd", "dt", "figcaption", "caption", "header", "main"),
]


class ParseError(ValueError):
    """The file could not be read as the type its name claims."""


@dataclass(frozen=True)
class Section:
    """A run of body text under one heading path; ``start``/``end`` index the normalised text."""

    path: tuple[str, ...]
    start: int
    end: int


@dataclass
class ParsedText:
    text: str
    sections: list[Section]
    hints: dict[str, Any] = field(default_factory=dict)  # metadata found inside the file itself


def normalise(text: str) -> str:
    """NFC, ``\\n`` line ends, tabs → spaces, no trailing blanks, at most one blank line in a row."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    text = text.replace("\u00a0", " ").replace("\x00", "")
    lines = [line.rstrip() for line in text.split("\n")]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip("\n") + "\n"


def markdown_sections(text: str) -> list[Section]:
    """Split normalised Markdown at ATX headings (outside code fences) into heading-path sections."""
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    body_start = 0
    path: tuple[str, ...] = ()
    in_fence = False
    pos = 0
    for line in text.splitlines(keepends=True):
        stripped = line.rstrip("\n")
        if _FENCE.match(stripped):
            in_fence = not in_fence
        match = None if in_fence else _ATX.match(stripped)
        if match:
            if text[body_start:pos].strip():
                sections.append(Section(path, body_start, pos))
            level = len(match.group(1))
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, match.group(2).strip()))
            path = tuple(title for _, title in stack)
            body_start = pos + len(line)
        pos += len(line)
    if text[body_start:].strip():
        sections.append(Section(path, body_start, len(text)))
    return sections


def parse_markdown(raw: str) -> ParsedText:
    text = normalise(raw)
    return ParsedText(text, markdown_sections(text))


def _html_to_markdown(soup: BeautifulSoup) -> str:
    for tag in soup(["script", "style", "noscript", "template", "head"]):
        tag.decompose()
    root: Tag = soup.body or soup
    for tag in root.find_all(re.compile(r"^h[1-6]$")):
        level = int(tag.name[1])
        heading = " ".join(tag.get_text(" ", strip=True).split())
        tag.replace_with(f"\n\n{'#' * level} {heading}\n\n")
    for tag in root.find_all(_BLOCK_TAGS):
        tag.insert_before("\n- " if tag.name == "li" else "\n")
        tag.insert_after("\n")
    lines = [" ".join(line.split()) for line in root.get_text().split("\n")]
    return "\n".join(lines)


def parse_html(raw: str) -> ParsedText:
    """Parse HTML; ``<title>`` and ``<meta name=…>`` tags (citation_*, dc.*) become metadata hints."""
    soup = BeautifulSoup(raw, "html.parser")
    hints: dict[str, Any] = {}
    for meta in soup.find_all("meta"):
        name = str(meta.get("name") or "").lower()
        content = str(meta.get("content") or "").strip()
        key = {
            "citation_title": "title",
            "dc.title": "title",
            "citation_publisher": "publisher",
            "dc.publisher": "publisher",
            "publisher": "publisher",
            "citation_date": "year",
            "citation_publication_date": "year",
            "dc.date": "year",
            "year": "year",
            "citation_public_url": "url",
            "dc.identifier": "url",
        }.get(name)
        if key and content:
            hints.setdefault(key, content)
    if soup.title and soup.title.string and soup.title.string.strip():
        hints.setdefault("title", soup.title.string.strip())
    text = normalise(_html_to_markdown(soup))
    return ParsedText(text, markdown_sections(text), hints)


PDF_MAX_PAGES = 2000
PDF_MAX_CHARS = 5_000_000


def parse_pdf(data: bytes) -> ParsedText:
    """Extract text page by page with pypdf; each page is a section ``("page N",)``."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(BytesIO(data))
        if len(reader.pages) > PDF_MAX_PAGES:  # a small file can declare huge page trees (PDF bomb)
            raise ParseError(f"the PDF has {len(reader.pages)} pages; at most {PDF_MAX_PAGES} are accepted")
        pages: list[str] = []
        total = 0
        for pdf_page in reader.pages:
            pages.append(normalise(pdf_page.extract_text() or ""))
            total += len(pages[-1])
            if total > PDF_MAX_CHARS:  # compressed streams can inflate to gigabytes of text
                raise ParseError(f"the PDF holds more than {PDF_MAX_CHARS} characters of text")
        info = reader.metadata
    except ParseError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as err:
        # pypdf raises assorted built-in errors on malformed files: all mean "not a readable PDF"
        raise ParseError(f"not a readable PDF: {str(err)[:200]}") from err
    hints: dict[str, Any] = {}
    if info is not None and info.title:
        hints["title"] = str(info.title)
    parts: list[str] = []
    sections: list[Section] = []
    pos = 0
    for number, page in enumerate(pages, start=1):
        if not page.strip():
            continue
        sections.append(Section((f"page {number}",), pos, pos + len(page)))
        parts.append(page)
        pos += len(page) + 1
    text = "\n".join(parts)
    if not text.strip():
        raise ParseError("the PDF has no extractable text (scanned images need OCR first)")
    return ParsedText(text, sections, hints)


def parse_bytes(kind: str, data: bytes) -> ParsedText:
    """Dispatch on ``kind`` (``markdown`` | ``html`` | ``pdf``)."""
    if kind == "pdf":
        return parse_pdf(data)
    try:
        raw = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ParseError(f"not UTF-8 text: {err}") from err
    return parse_html(raw) if kind == "html" else parse_markdown(raw)

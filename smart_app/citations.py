"""Citations as the Evidence panel shows them, read from what a card or a search carries.

* a card's ``extension`` may hold passage-like objects anywhere (``title``/``publisher``/``year``/
  ``section``/``url``/``text``, or a citation ``label`` with ``quote``/``url``/``release_id``);
* a citation label ``Publisher (Year). Title. § Section`` (``knowledge.retrieval.Passage.citation``) is
  split back into its parts;
* guideline search returns ranked passages of the published release (``knowledge.retrieval``);
* card ``detail`` is Markdown (CDS Hooks 2.0 §Card), rendered with raw HTML switched off.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from markupsafe import Markup

_HTTP_URL = re.compile(r"https?://[^\s\x00-\x1f]+\Z", re.IGNORECASE)


@dataclass
class Citation:
    title: str
    publisher: str = ""
    year: str = ""
    section: str = ""
    release: str = ""
    url: str | None = None
    text: str = ""

    def __post_init__(self) -> None:
        # Card data is rendered as a link: only http(s) URLs may become an href (no javascript:/data:).
        if self.url is not None and not _HTTP_URL.match(self.url):
            self.url = None


_markdown: Any = None


def markdown_html(text: str) -> Markup:
    """Card ``detail`` is GitHub-flavoured Markdown (CDS Hooks §Card); rendered with raw HTML off."""
    global _markdown
    if _markdown is None:
        from markdown_it import MarkdownIt

        _markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
    return Markup(_markdown.render(text))  # noqa: S704 - html disabled: markdown-it escapes input


_LABEL = re.compile(r"^(?P<publisher>.+?) \((?P<year>\d{4})\)\. (?P<title>.+?)\.(?: § (?P<section>.+))?$")


def from_label(label: str) -> dict[str, str]:
    """``Publisher (Year). Title. § Section`` (``knowledge.retrieval.Passage.citation``) → parts."""
    m = _LABEL.match(label.strip())
    if not m:
        return {"title": label}
    return {k: v for k, v in m.groupdict().items() if v}


def citations_in(node: Any, release: str) -> Iterable[Citation]:
    """Objects that look like a cited passage, anywhere inside a card's extension: either passage
    fields (``title``, ``publisher``, ``year``, ``section``/``section_path``, ``url``, ``text``) or a
    citation ``label`` with ``quote``/``url``/``release_id``."""
    if isinstance(node, Mapping):
        keys = set(node)
        if "title" in keys and keys & {"text", "url", "publisher", "section", "section_path"}:
            section = node.get("section") or node.get("section_path") or ""
            if isinstance(section, list):
                section = " > ".join(str(s) for s in section if s != node.get("title"))
            parts = {
                "title": str(node["title"]),
                "publisher": str(node.get("publisher") or ""),
                "year": str(node.get("year") or ""),
                "section": str(section),
            }
        elif isinstance(node.get("label"), str) and keys & {"quote", "url", "release_id", "kind"}:
            parts = from_label(node["label"])
        else:
            for value in node.values():
                yield from citations_in(value, release)
            return
        url = node.get("url")
        yield Citation(
            title=parts.get("title", ""),
            publisher=parts.get("publisher", ""),
            year=parts.get("year", ""),
            section=parts.get("section", ""),
            release=str(node.get("release_id") or node.get("release") or release),
            url=url if isinstance(url, str) else None,
            text=str(node.get("text") or node.get("quote") or "")[:1200],
        )
    elif isinstance(node, list):
        for value in node:
            yield from citations_in(value, release)


def release_in(node: Any) -> str:
    """A ``release`` / ``release_id`` string anywhere in a card's extension."""
    if isinstance(node, Mapping):
        for key in ("release_id", "release"):
            if isinstance(node.get(key), str) and node[key]:
                return str(node[key])
        node = list(node.values())
    if isinstance(node, list):
        for value in node:
            found = release_in(value)
            if found:
                return found
    return ""


@dataclass
class SearchOutcome:
    passages: list[Citation] = field(default_factory=list)
    supported: bool = False
    message: str = ""
    release: str = ""


def search_guidelines(app: Flask, query: str, k: int = 5) -> SearchOutcome:
    """Ranked cited passages from the published knowledge release (hybrid search)."""
    from knowledge.librarian.config import current_retriever

    retriever = current_retriever(app.extensions["settings"])
    if retriever is None:
        return SearchOutcome(message="Guideline search is not available: no published knowledge release.")
    result = retriever.search(query, k=k, mode="hybrid")
    passages = [
        Citation(
            title=p.title,
            publisher=p.publisher,
            year=str(p.year),
            section=p.section,
            release=p.release_id,
            url=p.url,
            text=p.text[:1200],
        )
        for p in result.passages
    ]
    return SearchOutcome(
        passages=passages, supported=result.supported, message=result.message or "", release=result.release_id
    )

"""The evidence: guideline ingestion, index, releases, retrieval; drug and trial knowledge.

Imports nothing of ours above it (no Flask request globals outside ``knowledge.librarian``).
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the librarian blueprint (the only Flask-aware part of this package)."""
    from knowledge.librarian import views  # noqa: F401  (routes attach to the blueprint on import)
    from knowledge.librarian.web import bp

    app.register_blueprint(bp)

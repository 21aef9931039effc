"""The team's fictional demo trials (``knowledge/trials/demo/*.json``) and the release built from them."""

from __future__ import annotations

from pathlib import Path

from knowledge.trials.importer import import_files
from knowledge.trials.models import Trial
from knowledge.trials.release import (
    Encoder,
    ReleaseManifest,
    build_release,
    current_release_id,
    read_manifest,
)

DEMO_DIR = Path(__file__).resolve().parent / "demo"


def demo_trials() -> list[Trial]:
    return import_files(sorted(DEMO_DIR.glob("*.json")))


def ensure_release(trials_dir: Path, encoder: Encoder) -> ReleaseManifest:
    """The current release; when none exists yet, build one from the demo trials (idempotent, fast)."""
    current = current_release_id(trials_dir)
    if current is not None:
        return read_manifest(trials_dir, current)
    return build_release(demo_trials(), trials_dir, encoder)

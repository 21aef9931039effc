"""Release 1 on a fresh machine: the team's starter pack, built and published when nothing is.

Run by ``make run`` / ``evidence-cds prepare`` (idempotent: it does nothing once any release is
published). The first release has no predecessor to regress from, so the gate passes trivially; when
a golden set is configured it is still evaluated so the next release has scores to beat.
"""

from __future__ import annotations

from pathlib import Path

from knowledge.config import STARTER_PACK_DIR, KnowledgeConfig
from knowledge.evaluation import load_golden
from knowledge.library import Library, discover_files
from knowledge.publishing import publish_release
from knowledge.releases import ReleaseError, build_release, read_pointer

SYSTEM_ACTOR = "system:prepare"


def ensure_starter_release(config: KnowledgeConfig, pack: Path | None = None) -> str | None:
    """Build and publish the starter pack unless a release is already published.

    Returns the id of the release it published, or ``None`` when there was nothing to do.
    """
    if read_pointer(config) is not None:
        return None
    results = Library(config).add_files(discover_files(pack or STARTER_PACK_DIR), SYSTEM_ACTOR)
    refused = [r.message for r in results if r.outcome == "refused"]
    if refused:
        raise ReleaseError("starter pack refused: " + "; ".join(refused))
    manifest, _ = build_release(config, SYSTEM_ACTOR)
    golden = None
    if config.golden_path is not None and config.golden_path.exists():
        golden = load_golden(config.golden_path)
    publish_release(
        config,
        manifest.release_id,
        SYSTEM_ACTOR,
        reason="initial release from the starter pack",
        golden=golden,
    )
    return manifest.release_id

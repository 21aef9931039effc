"""Knowledge fixtures: a real slice of the US-federal guidelines + the starter pack, real embeddings.

The expensive part (encoding chunks with all-MiniLM-L6-v2) happens once per session: every
knowledge folder in these tests shares one embedding cache (keyed by model and text, so sharing it
cannot mix models), and ``published_slice`` builds, evaluates and publishes one release that
read-only tests reuse. Tests that publish / roll back build their own folder (cheap: cache hits).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from knowledge.config import STARTER_PACK_DIR, KnowledgeConfig
from knowledge.evaluation import GoldenSet, load_golden
from knowledge.library import Library, discover_files
from knowledge.publishing import publish_release
from knowledge.releases import build_release
from tests.browser.conftest import browser, browser_context, page, playwright_instance  # noqa: F401

os.environ.setdefault("HF_HUB_OFFLINE", "1")

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
# Six real guideline summaries (USPSTF + VA/DoD, 2013-2017) that the golden set asks about.
SLICE = ["ngc-10008", "ngc-10097", "ngc-10708", "ngc-11191", "ngc-10853", "ngc-10822"]


@pytest.fixture(scope="session")
def guideline_dir(shared_data: Path) -> Path:
    return shared_data / "guidelines" / "us-federal"


@pytest.fixture(scope="session")
def slice_files(guideline_dir: Path) -> list[Path]:
    return [guideline_dir / f"{name}.md" for name in SLICE]


@pytest.fixture(scope="session")
def starter_files() -> list[Path]:
    return discover_files(STARTER_PACK_DIR)


@pytest.fixture(scope="session")
def golden() -> GoldenSet:
    return load_golden(GOLDEN_DIR)


@pytest.fixture(scope="session")
def embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("embedding-cache")


@pytest.fixture
def make_config(embedding_cache: Path, tmp_path: Path) -> Callable[..., KnowledgeConfig]:
    """A fresh knowledge folder under ``tmp_path`` sharing the session's embedding cache."""

    def make(name: str = "knowledge", **overrides: object) -> KnowledgeConfig:
        values: dict[str, object] = {
            "knowledge_dir": tmp_path / name,
            "embedding_cache_dir": embedding_cache,
            "golden_path": GOLDEN_DIR,
        }
        values.update(overrides)
        return KnowledgeConfig(**values)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="session")
def published_slice(
    tmp_path_factory: pytest.TempPathFactory,
    embedding_cache: Path,
    slice_files: list[Path],
    starter_files: list[Path],
    golden: GoldenSet,
) -> KnowledgeConfig:
    """Release r0001 = starter pack + six guidelines, evaluated and published (read-only use)."""
    cfg = KnowledgeConfig(
        knowledge_dir=tmp_path_factory.mktemp("published") / "knowledge",
        embedding_cache_dir=embedding_cache,
        golden_path=GOLDEN_DIR,
    )
    results = Library(cfg).add_files([*starter_files, *slice_files], "test")
    assert all(r.outcome == "added" for r in results), [r.message for r in results]
    manifest, _ = build_release(cfg, "test")
    publish_release(cfg, manifest.release_id, "test", golden=golden)
    return cfg


@pytest.fixture
def copy_published(published_slice: KnowledgeConfig, tmp_path: Path) -> Callable[..., KnowledgeConfig]:
    """A private copy of the library (not the releases) of ``published_slice`` to build on; the
    evaluation gate runs only when ``golden`` is asked for (it costs a few seconds per release)."""

    def copy(golden: bool = False) -> KnowledgeConfig:
        target = tmp_path / "copy"
        shutil.copytree(published_slice.library_dir, target / "library")
        return KnowledgeConfig(
            knowledge_dir=target,
            embedding_cache_dir=published_slice.embedding_cache_dir,
            golden_path=GOLDEN_DIR if golden else None,
        )

    return copy

"""Publishing is atomic: a process killed (SIGKILL) mid-publish leaves the previous release serving.

A child process publishes release 2 with ``os.replace`` / ``os.fsync`` wrapped so it announces the
moment and then blocks; the test kills it there with SIGKILL (no cleanup, no ``finally``), then checks
that ``CURRENT`` still parses, still names release 1, and that retrieval serves release 1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from knowledge.config import KnowledgeConfig
from knowledge.library import Library
from knowledge.publishing import publish_release
from knowledge.releases import build_release, read_pointer
from knowledge.retrieval import open_current_retriever

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from knowledge.config import KnowledgeConfig
    from knowledge.publishing import publish_release

    knowledge_dir, cache_dir, release_id, kill_point = sys.argv[1:5]
    real_replace, real_fsync = os.replace, os.fsync

    def pause(point):
        print(point, flush=True)
        time.sleep(120)

    def replace(src, dst, *a, **kw):
        if str(dst).endswith("CURRENT") and kill_point == "before-replace":
            pause(kill_point)
        return real_replace(src, dst, *a, **kw)

    def fsync(fd):
        name = os.readlink(f"/proc/self/fd/{fd}") if os.path.exists(f"/proc/self/fd/{fd}") else ""
        if kill_point == "mid-write" and ".CURRENT." in name:
            pause(kill_point)
        return real_fsync(fd)

    os.replace, os.fsync = replace, fsync
    cfg = KnowledgeConfig(knowledge_dir=Path(knowledge_dir), embedding_cache_dir=Path(cache_dir))
    publish_release(cfg, release_id, "child", force=True, reason="atomicity test")
    print("published", flush=True)
    """
)


@pytest.mark.parametrize("kill_point", ["mid-write", "before-replace"])
def test_killed_publish_leaves_previous_release_serving(
    make_config: Callable[..., KnowledgeConfig], starter_files: list[Path], kill_point: str
) -> None:
    cfg = make_config(golden_path=None)
    lib = Library(cfg)
    lib.add_files(starter_files, "test")
    first, _ = build_release(cfg, "test")
    publish_release(cfg, first.release_id, "test")
    lib.remove("starter-hypertension")
    second, _ = build_release(cfg, "test")

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            str(cfg.knowledge_dir),
            str(cfg.cache_dir),
            second.release_id,
            kill_point,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline().strip()
        assert line == kill_point, child.stderr.read() if child.stderr else line
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL

    pointer = read_pointer(cfg)
    assert pointer is not None and pointer.release_id == first.release_id
    result = open_current_retriever(cfg.knowledge_dir, cfg.embedding_model, cfg).search(
        "blood pressure target"
    )
    assert result.release_id == first.release_id

    # the interrupted publish can simply be repeated; then exactly the new release serves
    publish_release(cfg, second.release_id, "test", force=True, reason="retry")
    assert read_pointer(cfg).release_id == second.release_id  # type: ignore[union-attr]
    again = open_current_retriever(cfg.knowledge_dir, cfg.embedding_model, cfg).search(
        "blood pressure target"
    )
    assert again.release_id == second.release_id

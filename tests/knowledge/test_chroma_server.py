"""The same release built into and served from a real chromadb server (``HttpClient``)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from knowledge.config import KnowledgeConfig
from knowledge.index_store import chroma_client, collection_name
from knowledge.library import Library
from knowledge.publishing import publish_release
from knowledge.releases import build_release
from knowledge.retrieval import open_current_retriever


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("chroma", path=str(Path(sys.executable).parent))
    if binary is None:
        pytest.skip("the chroma server binary is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    proc = subprocess.Popen(
        [
            binary,
            "run",
            "--path",
            str(tmp_path / "chroma-server"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if requests.get(f"{url}/api/v2/heartbeat", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        else:
            pytest.fail("chroma server did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_release_served_from_a_chroma_server(
    chroma_server: str, make_config: Callable[..., KnowledgeConfig], starter_files: list[Path]
) -> None:
    cfg = make_config(chroma_url=chroma_server, chroma_token="not-checked-by-a-dev-server", golden_path=None)
    Library(cfg).add_files(starter_files, "test")
    manifest, _ = build_release(cfg, "test")
    publish_release(cfg, manifest.release_id, "test")
    assert not cfg.chroma_dir.exists()  # nothing embedded on disk: the vectors live in the server
    collection = chroma_client(cfg).get_collection(collection_name(manifest.release_id))
    assert collection.count() == manifest.n_chunks
    result = open_current_retriever(cfg.knowledge_dir, cfg.embedding_model, cfg).search(
        "digoxin level with cyclosporine", mode="dense"
    )
    assert result.supported and result.passages[0].doc_id == "starter-digoxin-cyclosporine"

"""The two indexes of a release: a chromadb collection (dense) and a bm25s index (lexical).

chromadb runs embedded (``PersistentClient`` under ``knowledge_dir/chroma``) unless a server URL is
configured, then ``HttpClient`` with a bearer token; a chromadb server has no per-collection
authorisation, so it must only be reachable on a private network behind auth. We always pass our own
embeddings (no chromadb embedding function) and turn telemetry off. One collection per release, named
``release-<id>``, never modified after the build.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import bm25s
import numpy as np
import numpy.typing as npt

from knowledge.config import KnowledgeConfig

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_STOPWORDS = frozenset(bm25s.stopwords.STOPWORDS_EN)
_stemmer: Any = None
_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


@lru_cache(maxsize=200_000)
def _stem(token: str) -> str:
    global _stemmer
    if _stemmer is None:  # importing nltk costs ~1 s; pay it on first use, not at app start
        from nltk.stem.porter import PorterStemmer

        _stemmer = PorterStemmer()
    return str(_stemmer.stem(token))


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens, English stop words dropped, Porter-stemmed (warfarin's ≈ warfarin)."""
    return [_stem(t) for t in _TOKEN.findall(text.lower()) if t not in _STOPWORDS]


def collection_name(release_id: str) -> str:
    return f"release-{release_id}"


def chroma_client(config: KnowledgeConfig) -> Any:
    """The process-wide chromadb client for ``config`` (embedded unless ``chroma_url`` is set)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    key = config.chroma_url or str(config.chroma_dir.resolve())
    with _clients_lock:
        if key not in _clients:
            settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
            if config.chroma_url:
                url = urlparse(config.chroma_url)
                headers = {"Authorization": f"Bearer {config.chroma_token}"} if config.chroma_token else {}
                _clients[key] = chromadb.HttpClient(
                    host=url.hostname or "127.0.0.1",
                    port=url.port or (443 if url.scheme == "https" else 8000),
                    ssl=url.scheme == "https",
                    headers=headers,
                    settings=settings,
                )
            else:
                config.chroma_dir.mkdir(parents=True, exist_ok=True)
                _clients[key] = chromadb.PersistentClient(path=str(config.chroma_dir), settings=settings)
        return _clients[key]


def write_collection(
    config: KnowledgeConfig,
    release_id: str,
    ids: Sequence[str],
    vectors: npt.NDArray[np.float32],
    metadatas: Sequence[dict[str, str | int]],
) -> None:
    """Create the release's collection (cosine space) and add every chunk vector in batches."""
    client = chroma_client(config)
    name = collection_name(release_id)
    # a half-built collection from an interrupted build; chromadb's "does not exist" type varies by version
    with contextlib.suppress(Exception):
        client.delete_collection(name)
    collection = client.create_collection(name, metadata={"hnsw:space": "cosine"}, embedding_function=None)
    step = max(1, min(int(client.get_max_batch_size()), 4000))
    for i in range(0, len(ids), step):
        collection.add(
            ids=list(ids[i : i + step]),
            embeddings=vectors[i : i + step],
            metadatas=list(metadatas[i : i + step]),
        )


def drop_collection(config: KnowledgeConfig, release_id: str) -> None:
    with contextlib.suppress(Exception):  # already gone
        chroma_client(config).delete_collection(collection_name(release_id))


def open_collection(config: KnowledgeConfig, release_id: str) -> Any:
    return chroma_client(config).get_collection(collection_name(release_id), embedding_function=None)


def build_bm25(texts: Sequence[str], folder: Path) -> None:
    index = bm25s.BM25()
    index.index([tokenize(t) for t in texts], show_progress=False)
    folder.mkdir(parents=True, exist_ok=True)
    index.save(str(folder), show_progress=False)


def load_bm25(folder: Path) -> bm25s.BM25:
    return bm25s.BM25.load(str(folder))


def bm25_scores(index: bm25s.BM25, query: str) -> npt.NDArray[np.float32]:
    """BM25 score of every chunk for ``query`` (zeros when no query term is in the vocabulary)."""
    tokens = [t for t in tokenize(query) if t in index.vocab_dict]
    if not tokens:
        return np.zeros(int(index.scores["num_docs"]), dtype=np.float32)
    return np.asarray(index.get_scores(tokens), dtype=np.float32)

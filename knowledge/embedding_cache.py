"""Embeddings cached by (model, exact input text) hash, so re-ingesting an unchanged document encodes
nothing. The model is part of the key: a vector made by one model can never be served for another.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from knowledge.chunking import sha256
from knowledge.embeddings import get_embedder


class EmbeddingCache:
    def __init__(self, folder: Path, model: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.model = model
        self._db = sqlite3.connect(folder / "embeddings.sqlite", timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS emb (key TEXT PRIMARY KEY, model TEXT, vec BLOB)")
        self.encoded = 0  # how many texts this instance had to encode (the rest came from the cache)

    def key(self, text: str) -> str:
        return sha256(f"{self.model}\n{text}")

    def embed(
        self,
        texts: Sequence[str],
        batch: int = 256,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> npt.NDArray[np.float32]:
        """Vectors for ``texts`` in order; misses are encoded in batches and stored.

        ``on_progress(encoded_so_far, to_encode)`` is called after each batch (progress bars).
        """
        keys = [self.key(t) for t in texts]
        found: dict[str, npt.NDArray[np.float32]] = {}
        for i in range(0, len(keys), 500):
            part = keys[i : i + 500]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(f"SELECT key, vec FROM emb WHERE key IN ({marks})", part)  # noqa: S608
            for key, blob in rows:
                found[key] = np.frombuffer(blob, dtype=np.float32)
        missing = [i for i, k in enumerate(keys) if k not in found]
        embedder = get_embedder(self.model)
        for start in range(0, len(missing), batch):
            idx = missing[start : start + batch]
            vectors = embedder.encode([texts[i] for i in idx])
            with self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO emb (key, model, vec) VALUES (?, ?, ?)",
                    [(keys[i], self.model, vectors[j].tobytes()) for j, i in enumerate(idx)],
                )
            for j, i in enumerate(idx):
                found[keys[i]] = vectors[j]
            self.encoded += len(idx)
            if on_progress is not None:
                on_progress(start + len(idx), len(missing))
        if not keys:
            return np.zeros((0, embedder.dimension), dtype=np.float32)
        return np.vstack([found[k] for k in keys]).astype(np.float32)

    def close(self) -> None:
        self._db.close()

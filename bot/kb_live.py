"""The knowledge base a process answers from: the YAML directory with the center-made matters of
Redis laid over it (bot.store.knowledge), validated with the same schema, rebuilt when its version moves.

A change is validated before it is stored (`validator`), and each process validates again when it
reloads: a base that fails never replaces the one in use; its errors are logged and the old base
keeps answering. The new base's passages are embedded once, by whichever process gets there first,
and shared through Redis with the others (and with other hosts).
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from bot.config import Settings
from bot.store.knowledge import KnowledgeStore, SharedVectors
from bot.live import Watch
from handlers.context import Context
from knowledge.loader import KnowledgeBase, KnowledgeError, load
from knowledge.matcher import Matcher

log = logging.getLogger(__name__)


def stores(settings: Settings, client) -> tuple[KnowledgeStore, SharedVectors]:
    return KnowledgeStore(client, settings.redis_prefix), SharedVectors(client, settings.redis_prefix)


def load_current(settings: Settings, kstore: KnowledgeStore, allow_empty: bool = False) -> tuple[int, KnowledgeBase]:
    """The base's version and the base itself (YAML + overlay); raises KnowledgeError."""
    version, overlay = kstore.overlay()
    return version, load(settings.knowledge_dir, overlay, allow_empty=allow_empty)


def validator(settings: Settings) -> Callable[[dict[str, Any]], None]:
    """What a change must pass before it is stored: the whole base loads with the new overlay."""
    def validate(overlay: dict[str, Any]) -> None:
        load(settings.knowledge_dir, overlay)
    return validate


def embed_ahead(settings: Settings, kstore: KnowledgeStore, shared: SharedVectors,
                writes: dict[str, dict[str, Any] | None], progress=None) -> None:
    """Embed the base a change will make before the change is published (the CLI, with every core):
    the running processes then find its vectors in the shared store and switch at once, instead of one
    web worker embedding a whole 事项清单 on one core between its requests. An invalid base is left to
    the commit's validation to report."""
    from knowledge import semantic

    if not semantic.available():
        return
    _version, overlay = kstore.overlay()
    overlay.update(writes)
    try:
        kb = load(settings.knowledge_dir, overlay)
    except KnowledgeError:
        return
    Matcher(kb, cache_dir=settings.data_dir / "cache", shared=shared, progress=progress)


class LiveBase:
    """Keeps `holder[key]` (a Flask app's extensions, or the worker's dict) on the newest valid base."""

    def __init__(self, settings: Settings, holder: dict, key: str = "centerbot"):
        self.settings = settings
        self.holder = holder
        self.slot = key
        ctx: Context = holder[key]
        self.kstore, self.shared = stores(settings, ctx.store.r)
        self.watch = Watch(ctx.store.r, self.kstore.key("kb", "version"), self.rebuild,
                           seen=str(ctx.kb.version) if ctx.kb.version else None,
                           name="knowledge")

    def rebuild(self, _value: str | None) -> None:
        try:
            version, kb = load_current(self.settings, self.kstore)
        except KnowledgeError as exc:
            log.error("the changed knowledge base is invalid; the previous one keeps answering:\n  %s",
                      "\n  ".join(exc.problems))
            raise
        ctx: Context = self.holder[self.slot]
        kb.version = version
        matcher = Matcher(kb, cache_dir=self.settings.data_dir / "cache", shared=self.shared)
        self.holder[self.slot] = ctx.with_base(kb, matcher)
        log.info("knowledge base version %d in use: %d matters", version, len(kb.matters))

    def start(self) -> "LiveBase":
        self.watch.start()
        return self

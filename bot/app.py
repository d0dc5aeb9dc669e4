"""The web app factory: wires settings, knowledge, store and blueprints together."""
from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

import redis
from flask import Flask
from werkzeug.exceptions import HTTPException

from bot.store.calendar import CalendarStore
from bot.config import Settings
from bot.console_sessions import ServerSessions
from bot.embedded_redis import ensure_server
from bot.store.replay import LocalReplayMemory
from bot.store import Store, connect
from bot.store.access import dummy_password_hash
from handlers.clock import Clock
from handlers.context import Context
from knowledge.holiday_law import statutory_days
from bot import kb_live

MAX_BODY = 64 * 1024
CONSOLE_SESSION_HOURS = 8  # a console sign-in lasts a working day at most
TEMPLATES = Path(__file__).resolve().parent / "templates"  # the console's and the public pages' HTML

log = logging.getLogger(__name__)


def open_store(settings: Settings, clock: Clock) -> Store:
    """The store on REDIS_URL, or on the embedded Redis under the data directory."""
    url = settings.redis_url
    if not url:
        url, started = ensure_server(settings.data_dir)
        if started:
            log.info("started the embedded Redis in %s", settings.data_dir)
    return Store(connect(url), clock, prefix=settings.redis_prefix)


def build_context(settings: Settings, clock: Clock | None = None, store: Store | None = None) -> Context:
    """Open the store and load the knowledge base, the YAML with the center-made matters laid over it
    (refusing an invalid one); its passages are embedded by one process and shared with the others."""
    clock = clock or Clock()
    store = store or open_store(settings, clock)
    kstore, shared = kb_live.stores(settings, store.r)
    version, kb = kb_live.load_current(settings, kstore)
    kb.version = version
    statutory_days(clock.today().year)  # the holidays package loads in ~1 s: at start, not in a reply
    return Context.build(kb, store, clock, settings.public_url, cache_dir=settings.data_dir / "cache",
                         calendar_source=CalendarStore(store), shared=shared)


def secret_key(settings: Settings) -> str:
    """CENTERBOT_SECRET_KEY, or one generated once and kept (0600) in the data directory."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_dir / "secret_key"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    except FileExistsError:
        pass
    return path.read_text().strip()


def _log_to_stderr() -> None:
    """Under gunicorn nothing configures Python's logging: show the app's INFO lines (the progress of a
    first start's embedding, among others) on stderr, where gunicorn's own log goes."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                            format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s")


def create_app(settings: Settings | None = None, *, context: Context | None = None,
               live: bool | None = None) -> Flask:
    """`live`: follow changes of the knowledge base (default: when the app loads its own context)."""
    _log_to_stderr()
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config.update(SETTINGS=settings, MAX_CONTENT_LENGTH=MAX_BODY, JSON_AS_ASCII=False)
    own = context is None
    app.extensions["centerbot"] = context = context or build_context(settings)
    context.render.add_templates(TEMPLATES)
    if live if live is not None else own:
        app.extensions["centerbot.live"] = kb_live.LiveBase(settings, app.extensions).start()
    app.extensions["centerbot.replay_local"] = LocalReplayMemory()

    from bot import console, console_kb, console_roster, pages, webhook

    app.secret_key = secret_key(settings)
    dummy_password_hash()  # made now, so the first sign-in with an unknown name takes no longer than others
    app.session_interface = ServerSessions(webhook.PATH, lifetime=CONSOLE_SESSION_HOURS * 3600)
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_PATH=console.bp.url_prefix,  # sent to the console only
                      SESSION_COOKIE_SECURE=settings.public_url.startswith("https://") and settings.production,
                      PERMANENT_SESSION_LIFETIME=CONSOLE_SESSION_HOURS * 3600)
    app.register_blueprint(webhook.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(console.bp)
    app.register_blueprint(console_kb.bp)
    app.register_blueprint(console_roster.bp)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return pages.text_error(exc.code or 500, f"{exc.code} {exc.name}")

    @app.errorhandler(redis.RedisError)
    def redis_down(exc: redis.RedisError):
        log.error("Redis unavailable: %s", type(exc).__name__)
        return pages.text_error(503, "503 service briefly unavailable")

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unexpected error")
        return pages.text_error(500, "500 internal error")

    return app

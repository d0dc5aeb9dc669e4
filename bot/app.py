"""The web app factory: wires settings, knowledge, store and blueprints together."""
from __future__ import annotations

import logging
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import HTTPException

from bot.store.calendar import CalendarStore
from bot.config import Settings
from bot.embedded_redis import ensure_server
from bot.store import Store, connect
from handlers.clock import Clock
from handlers.context import Context
from knowledge.holiday_law import statutory_days
from knowledge.loader import load

MAX_BODY = 64 * 1024
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
    """Load the knowledge base (refusing an invalid one) and open the store."""
    clock = clock or Clock()
    kb = load(settings.knowledge_dir)
    store = store or open_store(settings, clock)
    statutory_days(clock.today().year)  # the holidays package loads in ~1 s: at start, not in a reply
    return Context.build(kb, store, clock, settings.public_url, cache_dir=settings.data_dir / "cache",
                         calendar_source=CalendarStore(store))


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


class ConsoleSessions(SecureCookieSessionInterface):
    """Signed-cookie sessions for the staff console; WeChat's calls to the webhook carry no cookie and
    the webhook keeps no web session, so they skip building a signer and parsing cookies."""

    def __init__(self, webhook_path: str):
        self.webhook_path = webhook_path

    def open_session(self, app, request):
        if request.path == self.webhook_path:
            return self.make_null_session(app)
        return super().open_session(app, request)


def create_app(settings: Settings | None = None, *, context: Context | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config.update(SETTINGS=settings, MAX_CONTENT_LENGTH=MAX_BODY, JSON_AS_ASCII=False)
    app.extensions["centerbot"] = context = context or build_context(settings)
    context.render.add_templates(TEMPLATES)
    app.extensions["centerbot.pool"] = ThreadPoolExecutor(max_workers=8, thread_name_prefix="handler")

    from bot import console, pages, webhook

    app.secret_key = secret_key(settings)
    app.session_interface = ConsoleSessions(webhook.PATH)
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=settings.public_url.startswith("https://") and settings.production,
                      PERMANENT_SESSION_LIFETIME=8 * 3600)
    app.register_blueprint(webhook.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(console.bp)

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

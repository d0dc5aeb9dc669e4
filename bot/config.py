"""Reads the bot's settings from the environment once, validates them, and says what defaults it used."""
from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from bot.store import REDIS_SCHEMES

SAMPLE_KNOWLEDGE_DIR = Path(__file__).resolve().parent.parent / "knowledge" / "sample"
DEV_TOKEN = "centerbot-dev-token"
# Settings that moved, and where to: refused at start so that a center does not believe them in force.
OBSOLETE = {
    "WECHAT_TEMPLATE_NOTICE": "the template (or subscribe) message and its fields are now set in the knowledge "
                              "base's center.yaml, section `notifications:` (see docs/deploy.md)",
    "WECHAT_TEMPLATE_REMINDER": "reminders use center.yaml's `notifications:` too (see docs/deploy.md)",
}


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message says which and how to fix it."""


def _seconds(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")  # refused by validate() with a clear message


def _flag(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    token: str
    encoding_aes_key: str | None
    app_id: str | None
    app_secret: str | None
    api_base: str | None
    redis_url: str | None
    data_dir: Path
    knowledge_dir: Path
    public_url: str
    redis_prefix: str = "centerbot"  # one prefix per center when several centers share one Redis
    secret_key: str | None = None
    production: bool = False
    # seconds a worker owns a scheduled job or an outbox message; after a worker is killed, another
    # takes over its jobs and messages when this runs out (so it must well exceed a WeChat API call)
    worker_lease: float = 120.0
    # seconds a webhook request's timestamp may differ from our clock (WECHAT_TIMESTAMP_WINDOW); older or
    # newer requests are refused, and the signed requests seen are remembered this long (replays refused)
    timestamp_window: float = 300.0
    # WECHAT_COMPATIBLE_MODE: with an AES key set, also accept plaintext messages (WeChat's 兼容模式, or
    # while switching the account from 明文 to 安全模式); off, a plaintext message is refused
    compatible_mode: bool = False
    defaults_used: tuple[str, ...] = field(default=())
    obsolete: tuple[str, ...] = field(default=())  # settings that moved elsewhere and are still set

    @property
    def safe_mode(self) -> bool:
        return bool(self.encoding_aes_key)

    @property
    def can_send(self) -> bool:
        """True when the outbox may call the WeChat API (app id and secret are known)."""
        return bool(self.app_id and self.app_secret)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        production = env.get("CENTERBOT_ENV", "development").lower() == "production"
        defaults: list[str] = []

        def get(name: str, default: str | None = None) -> str | None:
            value = env.get(name, "").strip()
            if value:
                return value
            if default is not None:
                defaults.append(f"{name}={default}")
            return default

        token = get("WECHAT_TOKEN", None if production else DEV_TOKEN)
        key = get("WECHAT_ENCODING_AES_KEY")
        app_id = get("WECHAT_APP_ID")
        secret = get("WECHAT_APP_SECRET")
        settings = cls(
            token=token or "",
            encoding_aes_key=key,
            app_id=app_id,
            app_secret=secret,
            api_base=get("WECHAT_API_BASE"),
            redis_url=get("REDIS_URL"),
            redis_prefix=env.get("CENTERBOT_REDIS_PREFIX", "").strip() or "centerbot",
            data_dir=Path(get("CENTERBOT_DATA_DIR", "./var")).resolve(),
            knowledge_dir=Path(get("CENTERBOT_KNOWLEDGE_DIR", str(SAMPLE_KNOWLEDGE_DIR))).resolve(),
            public_url=(get("CENTERBOT_PUBLIC_URL", "http://127.0.0.1:8000") or "").rstrip("/"),
            obsolete=tuple(name for name in OBSOLETE if env.get(name, "").strip()),
            secret_key=env.get("CENTERBOT_SECRET_KEY") or None,
            production=production,
            worker_lease=_seconds(env.get("CENTERBOT_WORKER_LEASE", "").strip() or "120"),
            timestamp_window=_seconds(env.get("WECHAT_TIMESTAMP_WINDOW", "").strip() or "300"),
            compatible_mode=_flag(env.get("WECHAT_COMPATIBLE_MODE", "")),
            defaults_used=tuple(defaults),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        problems: list[str] = []
        if not self.token:
            problems.append("WECHAT_TOKEN is required in production (the token set in the WeChat console)")
        if self.encoding_aes_key:
            if not self.app_id:
                problems.append("WECHAT_ENCODING_AES_KEY is set (safe mode) but WECHAT_APP_ID is missing")
            try:
                if len(base64.b64decode(self.encoding_aes_key + "=", validate=True)) != 32:
                    raise ValueError
            except (binascii.Error, ValueError):
                problems.append("WECHAT_ENCODING_AES_KEY must be the 43-character key from the WeChat console")
        if bool(self.app_id) != bool(self.app_secret) and not self.encoding_aes_key:
            problems.append("WECHAT_APP_ID and WECHAT_APP_SECRET go together: set both or neither")
        if self.production:
            if not self.redis_url:
                problems.append("REDIS_URL is required in production (the embedded Redis is for development)")
            if not self.can_send:
                problems.append("WECHAT_APP_ID and WECHAT_APP_SECRET are required in production")
            if not self.secret_key:
                problems.append("CENTERBOT_SECRET_KEY is required in production (it signs console sessions)")
            if self.public_url.startswith("http://127.0.0.1"):
                problems.append("CENTERBOT_PUBLIC_URL is required in production (links in replies use it)")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", self.redis_prefix):
            problems.append("CENTERBOT_REDIS_PREFIX may hold only letters, digits, '_', '.' and '-' (e.g. center-xinqiao)")
        if self.redis_url and self.redis_url.partition("://")[0] not in REDIS_SCHEMES:
            problems.append(f"REDIS_URL must start with one of {', '.join(s + '://' for s in REDIS_SCHEMES)}")
        if not self.worker_lease > 0:
            problems.append("CENTERBOT_WORKER_LEASE must be a number of seconds (default 120)")
        elif self.production and self.worker_lease < 30:
            problems.append("CENTERBOT_WORKER_LEASE must be at least 30 seconds in production (a WeChat API "
                            "call may take 5 s, a batch of them more)")
        for name in self.obsolete:
            problems.append(f"{name} is no longer read: {OBSOLETE[name]}")
        if not 30 <= self.timestamp_window <= 3600:
            problems.append("WECHAT_TIMESTAMP_WINDOW must be a number of seconds from 30 to 3600 (default 300)")
        if self.compatible_mode and not self.encoding_aes_key:
            problems.append("WECHAT_COMPATIBLE_MODE is for safe mode: set WECHAT_ENCODING_AES_KEY too, or unset it")
        if not self.knowledge_dir.is_dir():
            problems.append(f"CENTERBOT_KNOWLEDGE_DIR {self.knowledge_dir} is not a directory")
        if problems:
            raise ConfigError("centerbot cannot start:\n  - " + "\n  - ".join(problems))

    def describe(self) -> str:
        """A start-up summary that never prints secrets."""
        mode = ("compatible (AES, plaintext accepted)" if self.compatible_mode else "safe (AES)") \
            if self.safe_mode else "plain"
        lines = [
            f"WeChat mode: {mode}; API calls: {'on' if self.can_send else 'off (outbox kept, not sent)'}",
            f"Redis: {self.redis_url_for_log}",
            f"Knowledge base: {self.knowledge_dir}",
        ]
        if self.defaults_used:
            lines.append("Development defaults: " + ", ".join(self.defaults_used))
        return "\n".join(lines)

    @property
    def redis_url_for_log(self) -> str:
        if not self.redis_url:
            return f"embedded (data in {self.data_dir})"
        # hide a password in redis://user:pass@host
        head, sep, tail = self.redis_url.partition("@")
        return ("***@" + tail) if sep else head

"""What every `centerbot` command starts from: the settings (a clear error, not a traceback, when they
are wrong) and the store they name."""
from __future__ import annotations

import click

from bot.config import ConfigError, Settings


def cli_settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def cli_store(settings: Settings):
    from bot.app import open_store
    from handlers.clock import Clock

    return open_store(settings, Clock())

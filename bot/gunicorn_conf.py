"""gunicorn's settings for the web app (`--config python:bot.gunicorn_conf`): before the master forks
its workers, the knowledge base is embedded once into the data directory's cache.

Without it, every worker of a fresh install embeds the base itself while it boots: on a busy two-core
machine that takes minutes, past gunicorn's worker timeout, and the worker is killed and starts again.
The master runs the embedding in a child process (`centerbot embed`), so it keeps none of the model's
memory, and the workers then read the vectors from the cache in a moment.
"""
from __future__ import annotations

import subprocess
import sys


def on_starting(server) -> None:
    app_uri = getattr(server.app, "app_uri", "") or ""
    if not app_uri.startswith("bot:"):
        return  # another app served with these settings (the bench's echo webhook)
    server.log.info("embedding the knowledge base into the cache before the workers start")
    done = subprocess.run([sys.executable, "-m", "bot.cli", "embed"], check=False)
    if done.returncode != 0:
        server.log.warning("centerbot embed failed (%s); each worker embeds what it needs", done.returncode)

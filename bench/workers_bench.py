"""What a center should set for gunicorn on two cores: the Procfile's sync workers in several counts and
gunicorn's threaded worker (gthread), each serving a repeated consultation (lexical, then one the
semantic channel answers) under the same wrk load as "Webhook under load", beside the echo webhook in
the same run. The rows of "Web workers: kind and count" in BENCHMARKS.md (`python -m bench workers`)."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from bench.load_bench import DURATION, WARM_UP, consult_questions
from bench.load_servers import ECHO_APP, app_env, cpu_seconds, gunicorn, memory_of
from bench.load_wrk import wrk
from bench.matcher_bench import CACHE, SAMPLE
from bot.embedded_redis import temporary_server
from knowledge.loader import load
from knowledge.matcher import Matcher

# (label, WEB_CONCURRENCY, extra gunicorn options)
SETTINGS = [
    ("sync, 2 workers (the Procfile's default)", "2", []),
    ("sync, 3 workers", "3", []),
    ("sync, 4 workers", "4", []),
    ("gthread, 2 workers × 4 threads", "2", ["--worker-class", "gthread", "--threads", "4"]),
]


def _row(server, texts: list[str], work: Path) -> dict:
    wrk(server, texts, WARM_UP, work)
    workers = server.workers
    before = cpu_seconds(workers)
    r = wrk(server, texts, DURATION, work)
    r["cpu_us"] = (cpu_seconds(workers) - before) / max(r["messages"], 1) * 1e6
    r["rss"] = sum(memory_of(pid)["rss"] for pid in workers)
    return r


def run() -> dict:
    matcher = Matcher(load(SAMPLE), cache_dir=CACHE)
    lexical = consult_questions(matcher, False)
    semantic = consult_questions(matcher, True) if matcher.semantic is not None else []
    work = Path(tempfile.mkdtemp(prefix="centerbot-workers-"))
    rows = []
    try:
        with temporary_server("everysec") as url:
            env = app_env(url, work / "data", SAMPLE)
            with gunicorn("echo", env, work, ECHO_APP) as echo:
                base = _row(echo, ["党费怎么交"], work)
            for label, count, extra in SETTINGS:
                with gunicorn("app", {**env, "WEB_CONCURRENCY": count}, work, extra=extra) as app:
                    rows.append((label, _row(app, lexical, work), _row(app, semantic, work) if semantic else None))
                print(label, "done", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"echo": base, "rows": rows, "load": os.getloadavg()}


def section(r: dict, stamp: str) -> str:
    echo = r["echo"]

    def cells(x: dict | None) -> str:
        if x is None:
            return "— | — | —"
        return f"{x['rps']:,.0f} ({x['rps'] / echo['rps']:.2f}×) | {x['p99_us'] / 1000:.0f} | {x['cpu_us']:,.0f}"

    lines = "\n".join(f"| {label} | {cells(lex)} | {cells(sem)} | {lex['rss']:.0f} |" for label, lex, sem in r["rows"])
    load = " / ".join(f"{x:.1f}" for x in r["load"])
    return f"""## Web workers: kind and count

`bench/workers_bench.py` (`python -m bench workers`); {stamp}; load average {load} (1/5/15 min) at the end.
The app served with the Procfile's command in each setting, a repeated consultation from wrk as in
"Webhook under load" (16 connections, each request signed and a new message), lexical then semantic,
beside the echo webhook (sync, 2 workers) in the same run: {echo['rps']:,.0f} requests/s, p99
{echo['p99_us'] / 1000:.0f} ms, {echo['cpu_us']:,.0f} µs of worker CPU a message.

| setting | lexical: requests/s (× echo) | p99 ms | worker CPU µs/msg | semantic: requests/s (× echo) | p99 ms | worker CPU µs/msg | workers' RSS MiB |
|---|---|---|---|---|---|---|---|
{lines}
"""


if __name__ == "__main__":
    import datetime as dt

    print(section(run(), f"run {dt.date.today().isoformat()}"))

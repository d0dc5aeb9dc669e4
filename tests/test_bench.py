"""The load benchmark's parts behave as BENCHMARKS.md says: the echo webhook is a real WeChat webhook,
the app runs with the Procfile's command, and every request wrk sends is a distinct message."""
from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import redis

from bench import load_bench
from bench.echo import create_app as echo_app
from bot.embedded_redis import temporary_server
from bot.peer import WeChatPeer

TOKEN = "echo-token"


def test_the_echo_webhook_checks_the_signature_parses_and_echoes():
    client = echo_app(TOKEN).test_client()
    peer = WeChatPeer(TOKEN)
    args, body = peer.sign(peer.xml("o_echo", "text", "党费怎么交"))
    res = client.post("/wechat", query_string=args, data=body)
    assert res.status_code == 200
    fields = peer.read_reply(res.get_data(as_text=True))
    assert fields["Content"] == "党费怎么交" and fields["ToUserName"] == "o_echo"
    forged, body = WeChatPeer("guess").sign(peer.xml("o_echo", "text", "你好"))
    assert client.post("/wechat", query_string=forged, data=body).status_code == 403


def test_the_bench_serves_the_procfile_web_command_on_loopback():
    argv = load_bench.procfile_web(8123, env={})
    procfile = next(line for line in load_bench.PROCFILE.read_text().splitlines() if line.startswith("web:"))
    words = shlex.split(procfile.split(":", 1)[1])
    assert argv[argv.index("--bind") + 1] == "127.0.0.1:8123"
    for flag in ("--workers", "--timeout", "--access-logfile", "--access-logformat"):
        assert flag in words and flag in argv
    assert argv[argv.index("--timeout") + 1] == words[words.index("--timeout") + 1]
    assert argv[-1] == words[-1] == "bot:create_app()"
    assert load_bench.procfile_web(8123, load_bench.ECHO_APP, {"WEB_CONCURRENCY": "3"})[-1] == load_bench.ECHO_APP
    assert "3" == load_bench.setting(load_bench.procfile_web(8123, env={"WEB_CONCURRENCY": "3"}), "--workers")


@pytest.mark.skipif(not Path(load_bench.WRK).exists(), reason="wrk is not installed (make bench installs it)")
@pytest.mark.timeout(1800)  # a fresh clone on a busy machine embeds the base before the app listens
def test_every_request_wrk_sends_is_a_new_message(tmp_path):
    with temporary_server("no") as url:
        env = load_bench.app_env(url, tmp_path / "data", load_bench.SAMPLE)
        with load_bench.gunicorn("app", env, tmp_path, timeout=1500) as app:
            r = load_bench.wrk(app, ["帮助"], 60, tmp_path, users=10, messages=60)
            assert r["sent"] == 60 and r["errors"] == 0
            assert load_bench._quiet(app.workers, 30)
            client = redis.Redis.from_url(url, decode_responses=True)
            seen = list(client.scan_iter("*:seen:*"))
            users = list(client.scan_iter("*:profile"))
            assert len(seen) == 60  # 60 distinct MsgIds: none answered from the retry cache
            assert len(users) == 10  # from 10 users
            assert len(list(client.scan_iter("*{replay:*"))) == 60  # each signed with its own nonce
            workers = app.workers
        assert all(not Path(f"/proc/{pid}").exists() for pid in [app.proc.pid, *workers])


def test_the_citizen_stream_is_thousands_of_distinct_real_questions():
    stream = load_bench.citizen_stream()
    assert len(stream) >= 3000 and len(set(stream)) == len(stream)
    assert "党费怎么交" in stream or any("党费" in q for q in stream)  # the evaluation sets are in it
    assert "高校毕业生报到需要什么材料" in stream and "高校毕业生报到怎么办" in stream  # catalogue names, as asked
    assert not any("（" in q for q in stream if q.endswith("怎么办"))  # without bracketed qualifiers


@pytest.mark.skipif(not Path(load_bench.WRK).exists(), reason="wrk is not installed (make bench installs it)")
def test_wrk_signs_each_request_and_sends_each_stream_text_once(tmp_path):
    """The echo webhook checks every signature wrk's LuaJIT SHA-1 made (a bad one is a 403, counted as an
    error), and a stream row sends each text at most once, then stops."""
    texts = [f"第{i}个问题" for i in range(40)]
    with load_bench.gunicorn("echo", {**load_bench.app_env("unix:///nonexistent", tmp_path / "d", load_bench.SAMPLE)},
                             tmp_path, load_bench.ECHO_APP) as echo:
        r = load_bench.wrk(echo, texts, 30, tmp_path, once=True, connections=2)
    assert r["errors"] == 0 and r["exhausted"]
    assert len(texts) - 1 <= r["messages"] <= len(texts)  # thread 0's first text is wrk's unsent check


def test_make_bench_can_start_every_benchmark_module_imports():
    """`make bench` imports every section's module first: one stale import (a name moved by a refactor)
    and no number is measured at all."""
    import importlib
    import pkgutil

    import bench

    for module in pkgutil.iter_modules(bench.__path__):
        importlib.import_module(f"bench.{module.name}")
    importlib.import_module("bench.__main__")

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

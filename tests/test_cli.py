"""The `centerbot` command: say/chat against a served bot, the menu push, the embedded Redis, settings."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from bot.cli import main
from bot.config import ConfigError, Settings
from bot.embedded_redis import ensure_server, stop_server
from tests.conftest import TOKEN, live


@pytest.fixture()
def served(app):
    with live(app) as url:
        yield url


def env_for(settings_env, **extra):
    return {**settings_env, **extra}


def test_say_does_one_signed_exchange(served, settings_env):
    result = CliRunner().invoke(main, ["say", "党费怎么交", "--url", served, "--user", "o_cli"],
                                env=env_for(settings_env))
    assert result.exit_code == 0, result.output
    assert "一次性告知" in result.output and "党费" in result.output


def test_say_works_in_safe_mode(app, settings_env, ctx):
    from bot import create_app
    from tests.conftest import AES_KEY, APP_ID

    env = env_for(settings_env, WECHAT_ENCODING_AES_KEY=AES_KEY, WECHAT_APP_ID=APP_ID)
    safe = create_app(Settings.from_env(env), context=ctx)
    with live(safe) as url:
        result = CliRunner().invoke(main, ["say", "周六开门吗", "--url", url], env=env)
    assert result.exit_code == 0, result.output
    assert "星期六" in result.output


def test_say_with_the_wrong_token_is_refused(served, settings_env):
    result = CliRunner().invoke(main, ["say", "你好", "--url", served], env=env_for(settings_env, WECHAT_TOKEN="x"))
    assert result.exit_code != 0 and "403" in result.output


def test_chat_plays_a_conversation(served, settings_env):
    result = CliRunner().invoke(main, ["chat", "--url", served, "--user", "o_chat"],
                                input="党员组织关系转接\n1\n/click CENTER_HOURS\n/quit\n", env=env_for(settings_env))
    assert result.exit_code == 0, result.output
    assert "欢迎" in result.output  # the subscribe welcome
    assert "回复序号" in result.output and "一次性告知" in result.output and "办公时间" in result.output


def test_menu_push_creates_the_menu_through_the_api(settings_env, standin):
    env = env_for(settings_env, WECHAT_APP_ID="wxapp", WECHAT_APP_SECRET="secret", WECHAT_API_BASE=standin.base)
    result = CliRunner().invoke(main, ["menu", "push"], env=env)
    assert result.exit_code == 0, result.output
    body = standin.sent("/cgi-bin/menu/create")[0]
    assert len(body["button"]) <= 3
    keys = [s["key"] for b in body["button"] for s in b.get("sub_button", [b]) if "key" in s]
    assert "CENTER_HOURS" in keys


def test_menu_push_refuses_keys_the_bot_does_not_handle(settings_env, tmp_path, standin):
    menu = tmp_path / "menu.yaml"
    menu.write_text("buttons:\n  - name: 测试\n    key: NOT_HANDLED\n", encoding="utf-8")
    env = env_for(settings_env, WECHAT_APP_ID="wxapp", WECHAT_APP_SECRET="secret", WECHAT_API_BASE=standin.base)
    result = CliRunner().invoke(main, ["menu", "push", "--file", str(menu)], env=env)
    assert result.exit_code != 0 and "NOT_HANDLED" in result.output
    assert standin.calls == []


def test_production_without_required_settings_is_a_clear_startup_error():
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"CENTERBOT_ENV": "production"})
    text = str(err.value)
    assert "WECHAT_TOKEN" in text and "REDIS_URL" in text and "WECHAT_APP_SECRET" in text


def test_a_malformed_aes_key_is_a_clear_startup_error():
    with pytest.raises(ConfigError, match="43-character"):
        Settings.from_env({"WECHAT_ENCODING_AES_KEY": "short", "WECHAT_APP_ID": "wx1"})


def test_development_defaults_are_said_at_start():
    s = Settings.from_env({})
    assert s.token and "WECHAT_TOKEN" in s.describe() and "embedded" in s.describe()


def test_embedded_redis_keeps_data_across_a_restart(tmp_path):
    url, started = ensure_server(tmp_path)
    assert started
    assert ensure_server(tmp_path) == (url, False)  # a second process finds the same server
    client = redis.Redis.from_url(url)
    client.set("centerbot:test", "kept")
    client.close()
    assert stop_server(tmp_path)
    url, started = ensure_server(tmp_path)
    try:
        assert started and redis.Redis.from_url(url).get("centerbot:test") == b"kept"
        assert (tmp_path / "appendonlydir").exists() or (tmp_path / "appendonly.aof").exists()
    finally:
        stop_server(tmp_path)


@pytest.mark.timeout(1800)  # a fresh clone on a busy machine embeds the base first (minutes)
def test_gunicorn_serves_the_app_factory_from_the_procfile(tmp_path, redis_url):
    import shlex

    import requests

    from bench.matcher_bench import CACHE

    line = next(x for x in (Path(__file__).resolve().parent.parent / "Procfile").read_text().splitlines()
                if x.startswith("web:"))
    assert "'bot:create_app()'" in line and "WEB_CONCURRENCY" in line
    words = shlex.split(line.split(":", 1)[1])
    assert words[words.index("--config") + 1] == "python:bot.gunicorn_conf"  # the base is embedded first
    CACHE.mkdir(parents=True, exist_ok=True)  # the bench's shared cache: cold in a fresh clone, then warm
    (tmp_path / "cache").symlink_to(CACHE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CENTERBOT_", "WECHAT_"))}
    env.update(WECHAT_TOKEN=TOKEN, REDIS_URL=redis_url, CENTERBOT_DATA_DIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", "python:bot.gunicorn_conf", "--bind",
                             "127.0.0.1:0", "--workers", "2", "--timeout", "30", "bot:create_app()"],
                            env=env, stderr=subprocess.PIPE, text=True)
    said: list[str] = []
    try:
        port = None
        while port is None:  # the master listens once the base is embedded: no deadline but pytest's
            line = proc.stderr.readline()
            assert line, "gunicorn exited before listening:\n" + "".join(said[-30:])
            said.append(line)
            if "Listening at:" in line:
                port = int(line.rsplit(":", 1)[1].split()[0])
        deadline = time.monotonic() + 600  # the workers boot from the cache; a busy machine is slow
        while True:
            try:
                res = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=300)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "".join(said[-30:])
                time.sleep(0.2)
        assert res.json()["status"] == "ok"
    finally:
        proc.terminate()
        said.extend(proc.communicate(timeout=60)[1].splitlines(keepends=True))
    assert not [x for x in said if "WORKER TIMEOUT" in x]  # no worker was killed while it booted


def test_staff_roster_commands(settings_env):
    runner = CliRunner()
    assert runner.invoke(main, ["staff", "add", "--name", "王芳", "--openid", "o_wang123"], env=settings_env).exit_code == 0
    bad = runner.invoke(main, ["staff", "add", "--name", "李强", "--openid", "o_li", "--backup", "无此人"], env=settings_env)
    assert bad.exit_code != 0 and "no staff member named 无此人" in bad.output
    ok = runner.invoke(main, ["staff", "add", "--name", "李强", "--openid", "o_li456", "--role", "leader",
                              "--backup", "王芳"], env=settings_env)
    assert ok.exit_code == 0, ok.output
    listed = runner.invoke(main, ["staff", "list"], env=settings_env).output
    assert "王芳  window  o_wang…" in listed and "李强  leader" in listed and "backup 王芳" in listed
    refused = runner.invoke(main, ["staff", "remove", "王芳"], env=settings_env)
    assert refused.exit_code != 0 and "backup of 李强" in refused.output
    held = runner.invoke(main, ["staff", "remove", "李强"], env=settings_env)  # an A/B holder in center.yaml
    assert held.exit_code != 0 and "李强 holds" in held.output and "type:complaint" in held.output
    assert runner.invoke(main, ["staff", "remove", "李强", "--force"], env=settings_env).exit_code == 0
    assert runner.invoke(main, ["staff", "remove", "王芳", "--force"], env=settings_env).exit_code == 0
    assert "no staff yet" in runner.invoke(main, ["staff", "list"], env=settings_env).output


@pytest.mark.parametrize("password, accepted", [("short-123", False), ("x" * 201, False),
                                                ("ten-chars!", True), ("y" * 200, True)])
def test_staff_passwd_follows_the_console_s_one_password_rule(settings_env, store, password, accepted):
    from bot.store.staff import PASSWORD_MIN

    assert PASSWORD_MIN == 10  # the console's rule (bot/console_kb.py sets passwords through the same store call)
    runner = CliRunner()
    assert runner.invoke(main, ["staff", "add", "--name", "王芳", "--openid", "o_wang123"], env=settings_env).exit_code == 0
    result = runner.invoke(main, ["staff", "passwd", "王芳", "--password", password], env=settings_env)
    assert (result.exit_code == 0) == accepted, result.output
    assert store.check_password("王芳", password) == accepted
    if not accepted:
        assert "10 to 200 characters" in result.output


def test_bookings_command_lists_a_day_with_masked_phones(chat, settings_env):
    chat.send("预约 健身房 明天 下午3点 张三 13800138000", user="o_b")
    out = CliRunner().invoke(main, ["bookings", "--date", "2026-11-24"], env=settings_env)
    assert out.exit_code == 0, out.output
    assert "1 booking(s)" in out.output and "健身房  15:00-16:00  confirmed  张**  138****8000" in out.output


def test_staff_away_and_bind_code(settings_env, chat, store):
    runner = CliRunner()
    runner.invoke(main, ["staff", "add", "--name", "王芳", "--openid", "o_placeholder"], env=settings_env)
    out = runner.invoke(main, ["staff", "away", "王芳", "--until", "2026-11-30"], env=settings_env)
    assert out.exit_code == 0 and "away until 2026-11-30" in out.output
    assert store.away_until("王芳") > 0
    assert runner.invoke(main, ["staff", "away", "王芳"], env=settings_env).exit_code == 0
    assert store.away_until("王芳") == 0
    code = runner.invoke(main, ["staff", "bind-code", "王芳"], env=settings_env).output.split("绑定 ")[1].strip()
    assert "已绑定" in chat.send(f"绑定 {code}", user="o_wang_real")
    assert store.staff("王芳")["openid"] == "o_wang_real"


def test_the_supervisor_restarts_a_child_that_keeps_dying_after_growing_delays(caplog):
    import logging
    import threading

    from bot.supervisor import Supervisor

    sup = Supervisor({"flaky": [sys.executable, "-c", "raise SystemExit(3)"],
                      "steady": [sys.executable, "-c", "import time; time.sleep(60)"]},
                     dict(os.environ), first_delay=0.1, max_delay=0.4)
    stop = threading.Event()
    with caplog.at_level(logging.INFO, logger="centerbot.run"):
        sup.start()
        steady = sup.children[1].proc.pid
        runner = threading.Thread(target=sup.run, args=(stop,), kwargs={"poll": 0.02})
        runner.start()
        try:
            deadline = time.monotonic() + 60
            while sup.children[0].restarts < 4 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            runner.join()
            sup.stop()
    said = [r.getMessage() for r in caplog.records]
    assert [m.rsplit(" in ", 1)[1] for m in said if "flaky" in m and "died with exit code 3" in m][:4] == \
        ["0.1 s", "0.2 s", "0.4 s", "0.4 s"]
    assert sum(m.startswith("restarted flaky") for m in said) >= 4
    waits = [sup.delay(type(sup.children[0])("x", [], deaths=n)) for n in (1, 2, 3, 4, 5)]
    assert waits == [0.1, 0.2, 0.4, 0.4, 0.4]  # doubling, capped
    assert sup.children[0].restarts >= 4 and sup.children[1].proc.pid == steady  # the other one went on
    assert sup.children[1].proc.poll() is not None  # stopped at the end


def test_the_embedded_redis_keeps_its_data_owner_only(tmp_path):
    import stat

    data = tmp_path / "var"
    data.mkdir(mode=0o755)
    (data / "dump.rdb").write_bytes(b"")  # what an older version left world-readable
    os.chmod(data / "dump.rdb", 0o644)
    url, _ = ensure_server(data)
    try:
        client = redis.Redis.from_url(url)
        client.set("centerbot:{u:o_x}:profile", "13800138000")
        client.bgsave()
        client.bgrewriteaof()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            info = client.info("persistence")
            if not info["rdb_bgsave_in_progress"] and not info["aof_rewrite_in_progress"] \
                    and not info["aof_rewrite_scheduled"]:
                break
            time.sleep(0.1)
        client.close()
    finally:
        stop_server(data)  # saves the RDB once more on the way out
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    files = [p for p in data.rglob("*") if p.is_file()]
    assert any(p.name == "dump.rdb" for p in files) and any("appendonly" in str(p) for p in files)
    loose = {str(p.relative_to(data)): oct(stat.S_IMODE(p.stat().st_mode)) for p in files
             if stat.S_IMODE(p.stat().st_mode) & 0o077}
    assert loose == {}
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o700 for p in data.rglob("*") if p.is_dir())

"""Every message kind and event gets an answer; unsubscribe forgets the user; slow handlers reply later."""
from __future__ import annotations

import threading
import time

import pytest

from bot import webhook
from handlers import dispatch


def test_subscribe_gets_a_welcome_with_what_the_bot_does_and_the_hours(chat):
    reply = chat.event("subscribe")
    assert "您好" in reply or "欢迎" in reply
    assert "办事咨询" in reply
    assert "9:00" in reply and "17:30" in reply


def test_voice_with_recognition_is_answered_as_its_text(chat):
    assert "党费" in chat.send("党费怎么交", kind="voice")


def test_voice_without_recognition_asks_for_text(chat):
    assert "文字" in chat.send("", kind="voice")


@pytest.mark.parametrize("kind", ["image", "location", "link", "video", "shortvideo"])
def test_media_gets_a_polite_reply_saying_what_the_bot_can_do(chat, kind):
    reply = chat.send(kind=kind)
    assert "您好" in reply and "文字" in reply and "帮助" in reply


def test_unknown_message_type_is_answered_politely(chat):
    res = chat.post(chat.peer.xml("o_x", "miniprogrampage", ""))
    assert res.status_code == 200
    assert "文字" in chat.peer.read_reply(res.get_data(as_text=True))["Content"]


def test_unsubscribe_deletes_session_and_profile(chat, store):
    chat.send("党员组织关系转接", user="o_leaving")
    assert store.load_session("o_leaving") and store.profile("o_leaving")
    assert chat.event("unsubscribe", user="o_leaving") == ""
    assert chat.last_response.get_data(as_text=True) == "success"
    assert store.load_session("o_leaving") == {}
    assert store.profile("o_leaving") == {}


def test_every_menu_key_is_handled(chat, kb):
    from handlers.common import CLICKS

    for key in kb.menu.keys():
        assert key in CLICKS
        reply = chat.event("CLICK", key=key)
        assert reply and "暂时不可用" not in reply, key


def test_unknown_menu_key_is_answered_with_help(chat):
    reply = chat.event("CLICK", key="NO_SUCH_KEY")
    assert "暂时不可用" in reply and "可以为您" in reply


def test_view_and_location_events_need_no_reply(chat):
    assert chat.event("VIEW", key="https://example.cn") == ""
    assert chat.event("LOCATION") == ""


def test_help_and_cancel_are_global_words(chat, store):
    chat.send("党员组织关系转接", user="o_g")
    assert store.load_session("o_g").get("flow")
    assert "已取消" in chat.send("取消", user="o_g")
    assert not store.load_session("o_g").get("flow")
    assert "可以为您" in chat.send("帮助", user="o_g")


def test_a_handler_that_overruns_replies_success_and_sends_the_answer_later(chat, store, monkeypatch):
    started, release = threading.Event(), threading.Event()
    original = dispatch.dispatch

    def slow(message, session, ctx):
        started.set()
        release.wait(5)
        return original(message, session, ctx)

    monkeypatch.setattr(dispatch, "dispatch", slow)
    monkeypatch.setattr(webhook, "HANDLER_BUDGET", 0.2)
    xml = chat.peer.xml("o_slow", "text", "党费怎么交", msg_id=99)
    first = []
    delivery = threading.Thread(target=lambda: first.append(chat.post(xml).get_data(as_text=True)))
    delivery.start()
    assert started.wait(10)  # the message is claimed and its handler running
    # WeChat's retry while the answer is still being made: the watchdog has deferred the message, so the
    # retry gets `success` at once, not a second run and not a wait
    for _ in range(100):
        if store.claim_message("o_slow", "m99").state == "deferred":
            break
        threading.Event().wait(0.05)
    monkeypatch.setattr(webhook, "RETRY_WAIT", 0.1)
    assert chat.post(xml).get_data(as_text=True) == "success"
    release.set()
    delivery.join(10)
    assert first == ["success"]  # the first delivery, answered late, says nothing more either
    items = store.outbox_for_user("o_slow")
    assert len(items) == 1 and "党费" in items[0].payload["content"]
    assert chat.post(xml).get_data(as_text=True) == "success"  # a late retry: still nothing new
    assert len(store.outbox_for_user("o_slow")) == 1


def test_a_handler_that_overruns_and_then_fails_sends_a_polite_busy_message_later(chat, store, monkeypatch):
    def slow_and_broken(message, session, ctx):
        for _ in range(200):  # until the watchdog has deferred the message
            if store.claim_message("o_slow_err", "m98").state == "deferred":
                break
            threading.Event().wait(0.05)
        raise RuntimeError("boom")

    monkeypatch.setattr(dispatch, "dispatch", slow_and_broken)
    monkeypatch.setattr(webhook, "HANDLER_BUDGET", 0.2)
    assert chat.post(chat.peer.xml("o_slow_err", "text", "党费怎么交", msg_id=98)).get_data(as_text=True) == "success"
    items = store.outbox_for_user("o_slow_err")
    assert len(items) == 1 and "稍后" in items[0].payload["content"]


def test_a_failing_handler_gets_a_polite_busy_reply_and_the_retry_runs_again(chat, monkeypatch):
    calls = []

    def broken(message, session, ctx):
        calls.append(1)
        raise RuntimeError("boom")

    monkeypatch.setattr(dispatch, "dispatch", broken)
    xml = chat.peer.xml("o_err", "text", "党费怎么交", msg_id=13)
    res = chat.post(xml)
    assert res.status_code == 200
    assert "稍后" in chat.peer.read_reply(res.get_data(as_text=True))["Content"]
    chat.post(xml)
    assert len(calls) == 2


def test_a_reply_over_2048_bytes_is_split_never_cut(chat, store, monkeypatch):
    from handlers.message import Reply

    long_text = "\n".join(f"第{i}行：" + "很长的内容" * 20 for i in range(40))
    monkeypatch.setattr(dispatch, "dispatch", lambda m, s, c: Reply(long_text))
    reply = chat.send("随便", user="o_long_reply")
    assert len(reply.encode()) <= 2048
    rest = [i.payload["content"] for i in store.outbox_for_user("o_long_reply")]
    assert "\n".join([reply] + rest) == long_text


def test_the_watchdog_defers_only_a_handler_still_running_at_its_deadline():
    from bot.watchdog import Watchdog

    dog, deferred = Watchdog(tick=0.01), []
    quick = dog.watch(time.monotonic() + 60, lambda: deferred.append("quick"))
    assert dog.finish(quick) is True  # finished in time: answered as usual, never deferred
    slow = dog.watch(time.monotonic(), lambda: deferred.append("slow"))
    for _ in range(500):
        if deferred:
            break
        time.sleep(0.01)
    assert deferred == ["slow"]
    assert dog.finish(slow) is False  # its answer goes through the outbox
    assert deferred == ["slow"]  # each overrun step runs once

"""The outbox: durable in Redis, sent by the worker through wechatpy against the local API stand-in."""
from __future__ import annotations

import threading

import pytest

from bot.config import Settings
from bot.store import Store
from bot.wechat_api import CenterClient, make_client
from bot.worker import OutboxSender


@pytest.fixture()
def api_settings(settings_env, standin):
    return Settings.from_env(dict(settings_env, WECHAT_APP_ID="wxtestapp", WECHAT_APP_SECRET="s3cret",
                                  WECHAT_API_BASE=standin.base))


@pytest.fixture()
def sender(api_settings, store):
    return OutboxSender(store, make_client(api_settings, store))


def test_queued_message_is_sent_once_as_a_customer_service_text(sender, store, standin):
    store.enqueue("o_user", "text", {"content": "您好，测试消息"})
    assert sender.run_once() == 1
    assert sender.run_once() == 0
    assert standin.sent() == [{"touser": "o_user", "msgtype": "text", "text": {"content": "您好，测试消息"}}]
    assert store.outbox_counts() == {"queued": 0, "failed": 0, "sent": 1}


def test_the_same_dedup_key_queues_a_message_once(store):
    store.enqueue("o_user", "text", {"content": "一"}, dedup="k1")
    store.enqueue("o_user", "text", {"content": "一"}, dedup="k1")
    assert store.outbox_counts()["queued"] == 1


def test_access_token_is_fetched_once_and_shared_through_redis(sender, store, standin, api_settings):
    for i in range(3):
        store.enqueue("o_user", "text", {"content": f"消息{i}"})
    sender.run_once()
    other = OutboxSender(store, make_client(api_settings, store))  # another process, same Redis
    store.enqueue("o_user", "text", {"content": "再一条"})
    other.run_once()
    assert standin.tokens_issued == 1
    assert len(standin.sent()) == 4


def test_concurrent_refreshes_fetch_one_token(api_settings, store, standin):
    clients = [CenterClient(api_settings, store) for _ in range(8)]
    barrier = threading.Barrier(8)

    def go(c):
        barrier.wait()
        c.access_token

    threads = [threading.Thread(target=go, args=(c,)) for c in clients]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert standin.tokens_issued == 1


def test_an_expired_token_is_refreshed_and_the_send_retried(sender, store, standin):
    store.enqueue("o_user", "text", {"content": "一"})
    sender.run_once()
    standin.valid_tokens.clear()  # WeChat revoked it: the next call answers 40001
    store.enqueue("o_user", "text", {"content": "二"})
    assert sender.run_once() == 1
    assert standin.tokens_issued == 2


def test_server_errors_are_retried_with_backoff(sender, store, standin, clock):
    standin.fail_next("/cgi-bin/message/custom/send", 500, 502)
    msg_id = store.enqueue("o_user", "text", {"content": "重试"})
    assert sender.run_once() == 0
    item = store.outbox_items([msg_id])[0]
    assert item.status == "retrying" and item.attempts == 1
    assert sender.run_once() == 0  # not due yet
    clock.advance(seconds=6)
    assert sender.run_once() == 0  # second failure
    clock.advance(seconds=31)
    assert sender.run_once() == 1
    assert len([c for c in standin.sent() if c["text"]["content"] == "重试"]) == 3


def test_outside_the_48_hour_window_the_message_fails_without_retry(sender, store, standin, clock):
    standin.fail_next("/cgi-bin/message/custom/send", {"errcode": 45015, "errmsg": "response out of time limit"})
    store.enqueue("o_user", "text", {"content": "太晚了"})
    sender.run_once()
    clock.advance(hours=1)
    assert sender.run_once() == 0
    failed = store.outbox_list("failed")
    assert len(failed) == 1 and "45015" in failed[0].last_error
    assert store.outbox_counts()["failed"] == 1


def test_a_message_whose_worker_died_is_sent_after_its_lease(sender, store, standin, clock):
    store.enqueue("o_user", "text", {"content": "孤儿"})
    assert len(store.claim_due()) == 1  # a worker leased it and then died
    assert sender.run_once() == 0
    clock.advance(seconds=121)
    assert sender.run_once() == 1


def test_without_app_id_the_outbox_is_kept_not_sent(settings, store, standin):
    sender = OutboxSender(store, make_client(settings, store))
    store.enqueue("o_user", "text", {"content": "保留"})
    assert sender.run_once() == 0
    assert standin.calls == []
    assert store.outbox_counts()["queued"] == 1
    assert store.outbox_for_user("o_user")[0].status == "queued"


def test_outbox_survives_a_new_store_on_the_same_redis(redis_client, clock, store):
    store.enqueue("o_user", "text", {"content": "持久"})
    again = Store(redis_client, clock)
    assert [i.payload["content"] for i in again.outbox_for_user("o_user")] == ["持久"]


def test_template_messages_are_sent_through_the_template_api(sender, store, standin):
    store.enqueue("o_user", "template", {"template_id": "TPL", "data": {"first": {"value": "预约提醒"}}})
    assert sender.run_once() == 1
    body = standin.sent("/cgi-bin/message/template/send")[0]
    assert body["touser"] == "o_user" and body["template_id"] == "TPL" and body["data"]["first"]["value"] == "预约提醒"


def test_outside_the_window_a_text_falls_back_to_the_configured_template_once(api_settings, store, standin):
    sender = OutboxSender(store, make_client(api_settings, store), template_id="TPL-NOTICE")
    standin.fail_next("/cgi-bin/message/custom/send", {"errcode": 45015, "errmsg": "response out of time limit"})
    store.enqueue("o_user", "text", {"content": "您的事项已办结，请评价"})
    sender.run_once()  # the text is refused; its template version is queued
    sender.run_once()
    sender.run_once()
    templates = standin.sent("/cgi-bin/message/template/send")
    assert len(templates) == 1 and templates[0]["data"]["keyword1"]["value"].startswith("您的事项已办结")
    failed = store.outbox_list("failed")
    assert len(failed) == 1 and "template" in failed[0].last_error


def test_a_send_that_times_out_is_retried_later_and_delivered_once(api_settings, store, standin, clock):
    sender = OutboxSender(store, CenterClient(api_settings, store, timeout=0.5))
    sender.client.fetch_access_token()
    hold = standin.hold_next("/cgi-bin/message/custom/send")  # WeChat does not answer in time
    msg_id = store.enqueue("o_user", "text", {"content": "超时重发"})
    assert sender.run_once() == 0
    hold.release.set()
    item = store.outbox_items([msg_id])[0]
    assert item.status == "retrying" and "Timeout" in item.last_error
    clock.advance(seconds=6)
    assert sender.run_once() == 1
    assert [c["text"]["content"] for c in standin.accepted()] == ["超时重发"]

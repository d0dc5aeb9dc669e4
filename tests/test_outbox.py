"""The outbox: durable in Redis, sent by the worker through wechatpy against the local API stand-in:
customer-service texts within WeChat's allowance (5 per user message, 48 hours), merged and by priority,
else the center's template or subscribe message, field by field; the stable access token."""
from __future__ import annotations

import dataclasses
import threading

import pytest

from bot.config import ConfigError, Settings
from bot.store import Store
from bot.store.delivery import DeliveryStore
from bot.wechat_api import CenterClient, make_client
from bot.worker import OutboxSender
from handlers import notify
from handlers.clock import CST
from handlers.context import Context
from handlers.render import Renderer, utf8_len
from knowledge.calendar import WorkCalendar
from knowledge.matcher import Matcher
from knowledge.schema import Notifications

TEMPLATE = "TPL-PROGRESS"
TEMPLATE_FIELDS = {"character_string1": "number", "thing2": "subject", "phrase3": "status", "time4": "time",
                   "thing5": "hint"}
CUSTOM = "/cgi-bin/message/custom/send"
TEMPLATE_SEND = "/cgi-bin/message/template/send"
BIZSEND = "/cgi-bin/message/subscribe/bizsend"


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
        store.enqueue(f"o_user{i}", "text", {"content": f"消息{i}"})
    sender.run_once()
    other = OutboxSender(store, make_client(api_settings, store))  # another process, same Redis
    store.enqueue("o_user", "text", {"content": "再一条"})
    other.run_once()
    assert standin.tokens_issued == 1 and standin.stable_token_calls == 1
    assert len(standin.sent()) == 4


def test_the_token_comes_from_stable_token_never_from_the_classic_token_api(sender, store, standin):
    store.enqueue("o_user", "text", {"content": "一"})
    sender.run_once()
    fetch = [c for c in standin.calls if c.path == "/cgi-bin/stable_token"]
    assert standin.classic_token_calls == 0 and len(fetch) == 1
    assert fetch[0].body == {"grant_type": "client_credential", "appid": "wxtestapp", "secret": "s3cret",
                             "force_refresh": False}
    assert standin.sent()[0] and standin.forced_refreshes == 0


def test_a_token_wechat_refuses_but_still_hands_out_is_forced_once_across_processes(
        api_settings, store, standin):
    first, second = CenterClient(api_settings, store), CenterClient(api_settings, store)
    assert first.access_token == "TOKEN-1"
    standin.refuse_token("TOKEN-1")  # the normal mode keeps handing it out; sends answer 40001
    store.enqueue("o_user", "text", {"content": "一"})
    assert OutboxSender(store, first).run_once() == 1
    assert standin.forced_refreshes == 1 and first.access_token == "TOKEN-2"
    assert [c.params["access_token"] for c in standin.calls if c.path == CUSTOM] == ["TOKEN-1", "TOKEN-2"]
    # another process that still holds the refused token finds the new one in Redis: no second force
    store.enqueue("o_user2", "text", {"content": "二"})
    assert OutboxSender(store, second).run_once() == 1
    assert standin.forced_refreshes == 1 and standin.stable_token_calls == 3


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


def test_a_ready_template_message_is_sent_through_the_template_api(sender, store, standin):
    standin.templates["TPL"] = ["thing1"]
    store.enqueue("o_user", "template", {"template_id": "TPL", "data": {"thing1": {"value": "预约提醒"}}})
    assert sender.run_once() == 1
    assert standin.accepted(TEMPLATE_SEND) == [{"touser": "o_user", "template_id": "TPL",
                                                "data": {"thing1": {"value": "预约提醒"}}}]


@pytest.mark.parametrize("data, why", [
    ({"first": {"value": "预约提醒"}, "thing1": {"value": "羽毛球场"}}, "first"),
    ({"thing1": {"value": "羽毛球场", "color": "#173177"}}, "color"),
    ({"thing1": {"value": "示例镇党群服务中心二楼多功能活动室预约申请"}}, "21 characters"),
])
def test_the_stand_in_refuses_what_wechat_would_hide_or_cut(sender, store, standin, data, why):
    standin.templates["TPL"] = ["thing1"]
    msg_id = store.enqueue("o_user", "template", {"template_id": "TPL", "data": data})
    assert sender.run_once() == 0
    item = store.outbox_items([msg_id])[0]
    assert item.status == "failed" and "47003" in item.last_error and standin.accepted(TEMPLATE_SEND) == []


# -- notices: customer-service text while WeChat allows, else the center's template or subscribe message --------
def configured(ctx, kind="template", template_id=TEMPLATE, fields=None, url=None):
    """The center's knowledge base with a `notifications:` section (as center.yaml would give it)."""
    config = Notifications(kind=kind, template_id=template_id, fields=fields or TEMPLATE_FIELDS, url=url)
    ctx.kb = dataclasses.replace(ctx.kb, center=ctx.kb.center.model_copy(update={"notifications": config}))
    return ctx


@pytest.fixture()
def ctx(kb, store, clock):
    """The handlers' context without the semantic matcher: these tests ask no questions, and embedding
    the base takes minutes on a busy machine."""
    return Context(kb=kb, matcher=Matcher(kb, semantic=False), calendar=WorkCalendar(kb.center), clock=clock,
                   store=store, render=Renderer(), public_url="https://bot.example.cn")


@pytest.fixture()
def notices(ctx, api_settings, standin):
    """A worker whose center sends template messages when a text cannot reach the citizen."""
    standin.templates[TEMPLATE] = list(TEMPLATE_FIELDS)
    configured(ctx)
    return OutboxSender(ctx.store, make_client(api_settings, ctx.store), lambda: ctx.kb.center)


def record_notice(ctx, no="DB20261123-0001", status="已办结", kind="result"):
    matter = ctx.kb.matters["subsistence-allowance"]  # 最低生活保障（低保）申请: 12 characters
    return notify.Notice(number=no, subject=(f"帮办代办·{matter.name}", matter.name, "帮办代办"), status=status,
                         time=ctx.clock.timestamp(), hint=("回复“我的办件”查看详情",), kind=kind)


def test_outside_the_48_hours_a_notice_goes_as_the_template_message_field_by_field(notices, ctx, standin, clock):
    ctx.store.save_session("o_cit", {})
    clock.advance(hours=49)
    notify.citizen(ctx, "o_cit", "您好，您反映的事项（DB20261123-0001）已办结。", "rec:1:done", record_notice(ctx))
    assert notices.run_once() == 1
    assert standin.sent(CUSTOM) == []  # not tried: the 48 hours are over
    assert standin.accepted(TEMPLATE_SEND) == [{"touser": "o_cit", "template_id": TEMPLATE, "data": {
        "character_string1": {"value": "DB20261123-0001"},
        "thing2": {"value": "帮办代办·最低生活保障（低保）申请"},  # 17 characters: the longest form that fits
        "phrase3": {"value": "已办结"},
        "time4": {"value": "2026年11月25日 10:30"},
        "thing5": {"value": "回复“我的办件”查看详情"},
    }}]
    assert DeliveryStore(ctx.store).counts("o_cit")["fallbacks"] == 1
    assert ctx.store.outbox_for_user("o_cit")[0].status == "sent"


def test_a_subject_too_long_for_20_characters_shows_its_next_form_never_a_cut_one(notices, ctx, standin, clock):
    ctx.store.save_session("o_cit", {})
    clock.advance(hours=49)
    long_name = "城乡居民基本养老保险待遇领取资格认证及补发申请"  # 23 characters
    notice = notify.Notice(number="DB20261123-0002", subject=(f"帮办代办·{long_name}", long_name, "帮办代办"),
                           status="已受理", time=ctx.clock.timestamp())
    notify.citizen(ctx, "o_cit", "您好，您的代办申请已受理。", "rec:2:taken", notice)
    notices.run_once()
    data = standin.accepted(TEMPLATE_SEND)[0]["data"]
    assert data["thing2"] == {"value": "帮办代办"}
    assert all(len(v["value"]) <= 20 for v in data.values())


def test_every_notice_the_handlers_send_fits_wechat_s_fields(ctx):
    from handlers.booking import booking_notice
    from tests.standin import field_fits

    statuses = ["已受理", "办理中", "有新答复", "已转办", "已办结", "已终止", "已延期", "需补正材料",
                "审核通过", "未通过审核", "未到场", "即将开始", "已取消", "时限调整"]
    config = Notifications(kind="template", template_id="T", fields=TEMPLATE_FIELDS)
    for resource in ctx.kb.resources.values():
        for status in statuses:
            notice = booking_notice({"code": "J1123-01", "starts": ctx.clock.timestamp()}, resource, status, "booking")
            for name, entry in notify.fallback_data(config, notice, ctx.kb.center.name, CST).items():
                assert field_fits(name, entry["value"]), (name, entry)
    for matter in ctx.kb.matters.values():
        notice = notify.Notice(number="DB20261123-9999", subject=(f"帮办代办·{matter.name}", matter.name, "帮办代办"),
                               status="需补正材料", time=ctx.clock.timestamp(), hint=("回复“我的办件”查看详情",))
        for name, entry in notify.fallback_data(config, notice, ctx.kb.center.name, CST).items():
            assert field_fits(name, entry["value"]), (name, entry)


def test_a_center_may_configure_subscribe_messages_instead(ctx, api_settings, standin, clock):
    fields = {"thing1": "subject", "character_string2": "number", "phrase3": "status", "date4": "time"}
    standin.subscribe_templates["SUB-1"] = list(fields)
    configured(ctx, kind="subscribe", template_id="SUB-1", fields=fields, url="https://bot.example.cn/")
    sender = OutboxSender(ctx.store, make_client(api_settings, ctx.store), lambda: ctx.kb.center)
    ctx.store.save_session("o_cit", {})
    clock.advance(hours=49)
    standin.agree("o_cit", "SUB-1")  # the citizen agreed to one such message (WeChat's event: test_consent.py)
    ctx.store.note_subscribe_choice("o_cit", "SUB-1", accepted=True)
    notify.citizen(ctx, "o_cit", "办结通知", "rec:1:done", record_notice(ctx))
    notify.citizen(ctx, "o_cit", "终止通知", "rec:1:terminated", record_notice(ctx, status="已终止"))
    assert sender.run_once() == 1
    assert standin.accepted(BIZSEND) == [{"touser": "o_cit", "template_id": "SUB-1", "page": "https://bot.example.cn/",
                                          "data": {"thing1": {"value": "帮办代办·最低生活保障（低保）申请"},
                                                   "character_string2": {"value": "DB20261123-0001"},
                                                   "phrase3": {"value": "已办结"},
                                                   "date4": {"value": "2026年11月25日 10:30"}}}]
    # the second found the agreement spent: never sent, it fails for staff to see, never retried
    failed = ctx.store.outbox_list("failed")
    assert len(failed) == 1 and "subscribe message the user agreed to" in failed[0].last_error
    clock.advance(hours=1)
    assert sender.run_once() == 0 and len(standin.sent(BIZSEND)) == 1


# -- WeChat's allowance: 5 customer-service messages after a user's message ---------------------------------
def block(tag: str) -> str:
    """A text of about 1,300 bytes: two never share one message."""
    return f"【{tag}】" + "您好，这是一条较长的通知。" * 33


def test_texts_to_one_user_are_merged_within_2048_bytes_most_urgent_first(sender, store, standin):
    store.enqueue("o_cit", "text", {"content": "提醒：明天上午的预约", "priority": notify.PRIORITY["reminder"]})
    store.enqueue("o_cit", "text", {"content": "进度：已受理", "priority": notify.PRIORITY["progress"]})
    store.enqueue("o_cit", "text", {"content": "结果：已办结", "priority": notify.PRIORITY["result"]})
    store.enqueue("o_cit", "text", {"content": block("甲"), "priority": notify.PRIORITY["reminder"]})
    store.enqueue("o_cit", "text", {"content": block("乙"), "priority": notify.PRIORITY["reminder"]})
    assert sender.run_once() == 5
    texts = [m["text"]["content"] for m in standin.accepted(CUSTOM)]
    assert texts == ["结果：已办结\n\n进度：已受理\n\n提醒：明天上午的预约\n\n" + block("甲"), block("乙")]
    assert all(utf8_len(t) <= 2048 for t in texts)


def test_the_allowance_is_spent_by_priority_then_the_template_then_waiting_for_the_user(
        notices, ctx, standin, clock):
    store = ctx.store
    store.save_session("o_cit", {})  # the citizen wrote: 5 texts may follow
    standin.user_wrote("o_cit")
    for i in range(3):
        store.enqueue("o_cit", "text", {"content": block(f"提醒{i}"), "priority": notify.PRIORITY["reminder"]})
    for i in range(3):
        notify.citizen(ctx, "o_cit", block(f"结果{i}"), f"rec:{i}:done",
                       record_notice(ctx, no=f"DB20261123-000{i}"))
    store.enqueue("o_cit", "text", {"content": block("提醒3"), "priority": notify.PRIORITY["reminder"]},
                  dedup="late-reminder")
    assert notices.run_once() == 5
    texts = [m["text"]["content"][:4] for m in standin.accepted(CUSTOM)]
    assert texts == ["【结果0", "【结果1", "【结果2", "【提醒0", "【提醒1"]
    assert standin.sent(TEMPLATE_SEND) == [] and DeliveryStore(store).counts("o_cit")["used"] == 5
    # the reminders left carry no notice: they wait for the citizen to write, without a failed attempt
    waiting = [i for i in store.outbox_for_user("o_cit") if i.status != "sent"]
    assert len(waiting) == 2 and all(i.attempts == 0 and "waiting for the user" in i.last_error for i in waiting)
    assert len(standin.sent(CUSTOM)) == 5  # the 6th was not even tried
    # a result that comes now goes as the template message
    notify.citizen(ctx, "o_cit", "又一个结果", "rec:9:done", record_notice(ctx, no="DB20261123-0009"))
    assert notices.run_once() == 1
    assert [m["data"]["character_string1"]["value"] for m in standin.accepted(TEMPLATE_SEND)] == ["DB20261123-0009"]
    # the citizen writes again: the count starts over and the waiting reminders go out
    clock.advance(minutes=5)
    store.save_session("o_cit", {})
    standin.user_wrote("o_cit")
    assert notices.run_once() == 2
    assert [m["text"]["content"][:4] for m in standin.accepted(CUSTOM)][5:] == ["【提醒2", "【提醒3"]
    assert DeliveryStore(store).counts("o_cit") == {"used": 2, "limit": 5, "total": 7, "fallbacks": 1}


def test_wechat_s_45047_ends_the_allowance_whatever_was_counted(notices, ctx, standin):
    ctx.store.save_session("o_cit", {})
    standin.user_wrote("o_cit")
    standin.cs_left["o_cit"] = 0  # sent by another system on the same account: WeChat says none left
    notify.citizen(ctx, "o_cit", "办结通知", "rec:1:done", record_notice(ctx))
    assert notices.run_once() == 1
    assert [c.body.get("touser") for c in standin.calls if c.path == CUSTOM] == ["o_cit"]
    assert len(standin.accepted(TEMPLATE_SEND)) == 1
    assert DeliveryStore(ctx.store).counts("o_cit")["used"] == 5
    ctx.store.enqueue("o_cit", "text", {"content": "再一条"})
    notices.run_once()
    assert len(standin.sent(CUSTOM)) == 1  # not tried again until the citizen writes


def test_a_text_outside_the_window_without_notifications_fails_for_staff_to_see(sender, store, standin, clock):
    store.save_session("o_cit", {})
    clock.advance(hours=49)
    store.enqueue("o_cit", "text", {"content": "太晚了"})
    assert sender.run_once() == 0 and standin.sent(CUSTOM) == []
    failed = store.outbox_list("failed")
    assert len(failed) == 1 and "48 hours" in failed[0].last_error


def test_the_obsolete_template_setting_is_refused_with_where_it_went(settings_env):
    with pytest.raises(ConfigError, match="center.yaml"):
        Settings.from_env(dict(settings_env, WECHAT_TEMPLATE_NOTICE="TPL"))


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


def test_outbox_user_says_what_was_sent_to_a_user(settings_env, store):
    from click.testing import CliRunner

    from bot.cli import main

    store.save_session("o_cli", {})
    counts = DeliveryStore(store)
    counts.take("o_cli")
    counts.take("o_cli")
    counts.note_fallback("o_cli")
    result = CliRunner().invoke(main, ["outbox", "user", "o_cli"], env=settings_env)
    assert result.exit_code == 0, result.output
    assert "2 of 5; in all: 2; template or subscribe messages instead: 1" in result.output


def test_bundles_keep_each_text_whole_within_2048_bytes_and_never_put_a_reminder_before_a_result():
    from bot.store import OutboxItem
    from bot.worker import SEPARATOR, bundles

    def item(n, size, priority, who="o_a"):
        text = f"{n:03d}" + "字" * size
        return OutboxItem(id=f"m{n}", openid=who, kind="text", payload={"content": text, "priority": priority},
                          status="queued", attempts=0, created=float(n))

    sizes = [10, 300, 50, 400, 30, 600, 1, 200, 650, 5]  # characters of 3 bytes
    items = [item(n, size, priorities) for n, (size, priorities) in enumerate(zip(sizes, [3, 1, 2, 3, 1, 0, 2, 3, 1, 0]))]
    items.append(item(99, 500, 1, who="o_b"))
    out = bundles(items)
    for_a = [b for b in out if b[0].openid == "o_a"]
    assert all(utf8_len(SEPARATOR.join(i.payload["content"] for i in b)) <= 2048 for b in out)
    flat = [i for b in for_a for i in b]
    assert sorted(i.id for i in flat) == sorted(i.id for i in items if i.openid == "o_a")  # nothing lost or cut
    assert [i.payload["priority"] for i in flat] == sorted(i.payload["priority"] for i in flat)
    assert len(for_a) == 4 and [[i.id for i in b] for b in out if b[0].openid == "o_b"] == [["m99"]]


def test_a_fact_no_form_of_which_fits_is_left_out_with_a_warning_never_cut(caplog):
    notice = notify.Notice(number="编号一二三", subject=("一个二十一个字的很长很长很长很长很长的事项名称",), status="办理完毕了吗",
                           time=0.0)
    config = Notifications(kind="template", template_id="T", fields=TEMPLATE_FIELDS)
    data = notify.fallback_data(config, notice, "中心", CST)
    assert data["character_string1"] == {"value": "-"} and data["thing2"] == {"value": "-"}
    assert data["phrase3"] == {"value": "无"} and data["thing5"] == {"value": "-"}
    assert "cannot show subject" in caplog.text

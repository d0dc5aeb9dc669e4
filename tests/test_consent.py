"""Subscribe messages (订阅通知) go only to a citizen who agreed to that template: WeChat's consent
events, through the signed webhook, are recorded, and the worker's fallback follows them."""
from __future__ import annotations

import dataclasses
import time

import pytest

from bot.config import Settings
from bot.wechat_api import make_client
from bot.worker import OutboxSender
from handlers import notify
from knowledge.schema import Notifications

BIZSEND = "/cgi-bin/message/subscribe/bizsend"
TEMPLATE_SEND = "/cgi-bin/message/template/send"
SUB = "SUB-Progress_1"
TPL = "TPL-NOTICE"
FIELDS = {"character_string1": "number", "phrase2": "status"}


def consent_event(chat, user: str, event: str, entries: list[dict]) -> str:
    """Post a subscribe-message event as WeChat does (a <List> per template); returns the reply body."""
    block = {"subscribe_msg_popup_event": "SubscribeMsgPopupEvent",
             "subscribe_msg_change_event": "SubscribeMsgChangeEvent",
             "subscribe_msg_sent_event": "SubscribeMsgSentEvent"}[event]
    items = "".join("<List>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in e.items()) + "</List>"
                    for e in entries)
    xml = (f"<xml><ToUserName><![CDATA[gh_centerbot]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>"
           f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
           f"<Event><![CDATA[{event}]]></Event><{block}>{items}</{block}></xml>")
    res = chat.post(xml)
    assert res.status_code == 200, res.data
    return res.get_data(as_text=True)


def popup(chat, user: str, **choices: str) -> str:
    return consent_event(chat, user, "subscribe_msg_popup_event",
                         [{"TemplateId": tid, "SubscribeStatusString": c, "PopupScene": "2"}
                          for tid, c in choices.items()])


@pytest.fixture()
def worker(ctx, standin, settings_env):
    """The worker of a center whose notices go as its subscribe message, else as its template message."""
    settings = Settings.from_env(dict(settings_env, WECHAT_APP_ID="wxapp", WECHAT_APP_SECRET="secret",
                                      WECHAT_API_BASE=standin.base))
    standin.subscribe_templates[SUB] = list(FIELDS)
    standin.templates[TPL] = list(FIELDS)
    return OutboxSender(ctx.store, make_client(settings, ctx.store), lambda: ctx.kb.center)


def configure(ctx, *configs: Notifications) -> None:
    ctx.kb = dataclasses.replace(ctx.kb, center=ctx.kb.center.model_copy(update={"notifications": list(configs)}))


def subscribe(long_term=False):
    return Notifications(kind="subscribe", template_id=SUB, fields=FIELDS, long_term=long_term)


def notice_to(ctx, openid: str, n: int) -> bool:
    note = notify.Notice(number=f"TS20261123-000{n}", subject=("投诉",), status="已办结", time=ctx.clock.timestamp(),
                         kind="result")
    return notify.citizen(ctx, openid, f"您好，您的投诉（TS20261123-000{n}）已办结。", f"rec:{n}:done", note)


def outside_the_window(chat, ctx, clock, user="o_cit"):
    chat.send("你好", user=user)
    clock.advance(hours=49)


def test_a_subscribe_message_goes_only_to_a_citizen_who_accepted_that_template_in_the_popup(
        chat, ctx, clock, standin, worker):
    configure(ctx, subscribe())
    outside_the_window(chat, ctx, clock)
    outside_the_window(chat, ctx, clock, user="o_other")
    assert popup(chat, "o_cit", **{SUB: "accept", "OTHER-tpl": "reject"}) == "success"  # never answered
    standin.agree("o_cit", SUB)
    standin.agree("o_other", SUB)  # WeChat would take it, but we never heard this citizen agree
    assert notice_to(ctx, "o_cit", 1) is True
    assert notice_to(ctx, "o_other", 2) is False  # nothing configured can reach them: kept for staff
    worker.run_once()
    assert [m["touser"] for m in standin.accepted(BIZSEND)] == ["o_cit"]
    failed = ctx.store.outbox_for_user("o_other")[0]
    assert failed.status == "failed" and "agreed" in failed.last_error
    assert ctx.store.subscribe_choice("o_cit", "OTHER-tpl") == ("reject", 0)


def test_one_agreement_allows_one_subscribe_message_then_the_next_fallback(chat, ctx, clock, standin, worker):
    configure(ctx, subscribe(), Notifications(kind="template", template_id=TPL, fields=FIELDS))
    outside_the_window(chat, ctx, clock)
    popup(chat, "o_cit", **{SUB: "accept"})
    standin.agree("o_cit", SUB)
    notice_to(ctx, "o_cit", 1)
    notice_to(ctx, "o_cit", 2)
    assert worker.run_once() == 2
    assert len(standin.accepted(BIZSEND)) == 1 and len(standin.accepted(TEMPLATE_SEND)) == 1
    assert len(standin.sent(BIZSEND)) == 1  # the second was never tried: the agreement was spent


def test_a_refusal_in_the_settings_stops_subscribe_messages_and_the_outbox_keeps_its_rule(
        chat, ctx, clock, standin, worker):
    configure(ctx, subscribe(long_term=True))
    outside_the_window(chat, ctx, clock)
    popup(chat, "o_cit", **{SUB: "accept"})
    standin.agree("o_cit", SUB, times=5)
    notice_to(ctx, "o_cit", 1)
    worker.run_once()
    assert consent_event(chat, "o_cit", "subscribe_msg_change_event",
                         [{"TemplateId": SUB, "SubscribeStatusString": "reject"}]) == "success"
    notice_to(ctx, "o_cit", 2)
    worker.run_once()
    assert len(standin.sent(BIZSEND)) == 1
    assert ctx.store.outbox_for_user("o_cit")[-1].status == "failed"


def test_a_delivery_wechat_reports_refused_ends_the_agreement(chat, ctx, clock, standin, worker):
    configure(ctx, subscribe(long_term=True))
    popup(chat, "o_cit", **{SUB: "accept"})
    assert ctx.store.may_subscribe("o_cit", SUB, long_term=True)
    consent_event(chat, "o_cit", "subscribe_msg_sent_event",
                  [{"TemplateId": SUB, "MsgID": "1700827132819554304", "ErrorCode": "0", "ErrorStatus": "success"}])
    assert ctx.store.may_subscribe("o_cit", SUB, long_term=True)  # a delivery that went says nothing new
    consent_event(chat, "o_cit", "subscribe_msg_sent_event",
                  [{"TemplateId": SUB, "MsgID": "1700827132819554305", "ErrorCode": "43101",
                    "ErrorStatus": "failed:user refuse to accept the msg"}])
    assert not ctx.store.may_subscribe("o_cit", SUB, long_term=True)


def test_wechat_s_43101_for_an_agreement_we_recorded_is_noted_and_the_next_fallback_goes(
        chat, ctx, clock, standin, worker):
    configure(ctx, subscribe(long_term=True), Notifications(kind="template", template_id=TPL, fields=FIELDS))
    outside_the_window(chat, ctx, clock)
    popup(chat, "o_cit", **{SUB: "accept"})  # withdrawn later where we did not hear it: WeChat has none
    notice_to(ctx, "o_cit", 1)
    assert worker.run_once() == 1
    assert len(standin.sent(BIZSEND)) == 1 and len(standin.accepted(TEMPLATE_SEND)) == 1
    assert ctx.store.subscribe_choice("o_cit", SUB)[0] == "reject"


def test_consent_events_do_not_open_the_customer_service_window(chat, ctx, clock, standin, worker):
    configure(ctx, subscribe())
    outside_the_window(chat, ctx, clock)
    seen = ctx.store.profile("o_cit")["last_seen"]
    popup(chat, "o_cit", **{SUB: "reject"})
    assert ctx.store.profile("o_cit")["last_seen"] == seen
    assert notice_to(ctx, "o_cit", 1) is False


def test_a_consent_event_is_recorded_once_when_wechat_retries_it(chat, ctx):
    xml_entries = [{"TemplateId": SUB, "SubscribeStatusString": "accept", "PopupScene": "2"}]
    block = "".join("<List>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in e.items()) + "</List>"
                    for e in xml_entries)
    xml = (f"<xml><ToUserName><![CDATA[gh_centerbot]]></ToUserName><FromUserName><![CDATA[o_cit]]></FromUserName>"
           f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
           f"<Event><![CDATA[subscribe_msg_popup_event]]></Event>"
           f"<SubscribeMsgPopupEvent>{block}</SubscribeMsgPopupEvent></xml>")
    args, body = chat.peer.sign(xml)
    for _ in range(3):  # WeChat's retries repeat the signed request
        assert chat.client.post("/wechat", query_string=args, data=body, content_type="text/xml").status_code == 200
    assert ctx.store.subscribe_choice("o_cit", SUB) == ("accept", 1)


def test_a_malformed_consent_event_is_answered_and_changes_nothing(chat, ctx):
    assert popup(chat, "o_cit", **{"bad id <script>": "accept"}) == "success"
    consent_event(chat, "o_cit", "subscribe_msg_popup_event", [{"TemplateId": SUB, "SubscribeStatusString": "maybe"}])
    assert ctx.store.subscribe_choice("o_cit", SUB) == ("", 0)


def test_unsubscribing_forgets_the_citizen_s_agreements(chat, ctx):
    popup(chat, "o_cit", **{SUB: "accept"})
    chat.event("unsubscribe", user="o_cit")
    assert ctx.store.subscribe_choice("o_cit", SUB) == ("", 0)

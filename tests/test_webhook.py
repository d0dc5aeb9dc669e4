"""The signed webhook: verification, signatures, plain/compatible/safe modes, bad bodies, exactly once."""
from __future__ import annotations

import pytest
from redis.cluster import RedisCluster

from bot import create_app
from bot.config import Settings
from bot.peer import WeChatPeer
from tests.conftest import AES_KEY, APP_ID, TOKEN, Chat


def test_url_verification_echoes_echostr(client):
    args = WeChatPeer(TOKEN).verify_args("echo-123")
    res = client.get("/wechat", query_string=args)
    assert res.status_code == 200
    assert res.get_data(as_text=True) == "echo-123"


def test_url_verification_refuses_a_forged_signature(client):
    args = WeChatPeer("not-our-token").verify_args("echo-123")
    assert client.get("/wechat", query_string=args).status_code == 403


def test_post_with_forged_signature_is_refused_and_not_processed(client, chat, store):
    forger = Chat(client, WeChatPeer("stolen-guess"))
    res = forger.post(forger.peer.xml("o_forged", "text", "党费怎么交"))
    assert res.status_code == 403
    assert store.profile("o_forged") == {}


@pytest.mark.parametrize("drop", ["signature", "timestamp", "nonce"])
def test_post_missing_a_signature_part_is_refused(client, drop):
    peer = WeChatPeer(TOKEN)
    args, body = peer.sign(peer.xml("o_x", "text", "你好"))
    del args[drop]
    assert client.post("/wechat", query_string=args, data=body).status_code == 403


def test_plain_text_message_gets_a_text_reply(chat):
    reply = chat.send("党费怎么交")
    assert "党费" in reply
    fields = chat.peer.read_reply(chat.last_response.get_data(as_text=True))
    assert fields["MsgType"] == "text"
    assert fields["ToUserName"] == "o_citizen"
    assert fields["FromUserName"] == "gh_centerbot"


def test_the_webhook_sets_no_cookie(chat):
    chat.send("党费怎么交")
    assert "Set-Cookie" not in chat.last_response.headers


@pytest.fixture()
def safe_app(settings_env, ctx):
    env = dict(settings_env, WECHAT_ENCODING_AES_KEY=AES_KEY, WECHAT_APP_ID=APP_ID)
    return create_app(Settings.from_env(env), context=ctx)


def test_safe_mode_message_is_decrypted_and_the_reply_encrypted(safe_app):
    chat = Chat(safe_app.test_client(), WeChatPeer(TOKEN, AES_KEY, APP_ID))
    reply = chat.send("党费怎么交")
    body = chat.last_response.get_data(as_text=True)
    assert "<Encrypt>" in body and "党费" not in body  # nothing readable on the wire
    assert "党费" in reply  # WeChat's own crypto (wechatpy) decrypts it and checks its signature


def test_compatible_mode_is_answered_encrypted(safe_app):
    chat = Chat(safe_app.test_client(), WeChatPeer(TOKEN, AES_KEY, APP_ID, compatible=True))
    assert "党费" in chat.send("党费怎么交")
    assert "<Encrypt>" in chat.last_response.get_data(as_text=True)


def test_safe_mode_refuses_a_bad_msg_signature(safe_app):
    client = safe_app.test_client()
    peer = WeChatPeer(TOKEN, AES_KEY, APP_ID)
    args, body = peer.sign(peer.xml("o_x", "text", "你好"))
    args["msg_signature"] = "0" * 40
    assert client.post("/wechat", query_string=args, data=body).status_code == 403


def test_safe_mode_refuses_a_message_encrypted_for_another_app(safe_app):
    chat = Chat(safe_app.test_client(), WeChatPeer(TOKEN, AES_KEY, "wxsomeoneelse000"))
    res = chat.post(chat.peer.xml("o_x", "text", "你好"))
    assert res.status_code == 403


def test_body_over_64_kib_is_refused_with_413(client):
    peer = WeChatPeer(TOKEN)
    args, body = peer.sign(peer.xml("o_x", "text", "长" * 30000))
    res = client.post("/wechat", query_string=args, data=body)
    assert res.status_code == 413


@pytest.mark.parametrize("body", [
    b"<xml><ToUserName>unclosed",
    b"not xml at all",
    b"",
    b"<other><a>1</a></other>",
    b"<xml><MsgType>text</MsgType><Content>no sender</Content></xml>",
    "<xml><FromUserName>o</FromUserName><MsgType>text</MsgType><Content>\ud800</Content></xml>".encode(
        "utf-8", "surrogatepass"),
])
def test_malformed_bodies_get_400_not_500(client, body):
    args, _ = WeChatPeer(TOKEN).sign("")
    assert client.post("/wechat", query_string=args, data=body).status_code == 400


@pytest.mark.parametrize("body", [
    b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b"<xml><FromUserName>o</FromUserName><MsgType>text</MsgType><Content>&xxe;</Content></xml>",
    b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>'
    b"<xml><FromUserName>o</FromUserName><MsgType>text</MsgType><Content>&lol2;</Content></xml>",
    b'<!DOCTYPE xml SYSTEM "http://attacker.example/x.dtd">'
    b"<xml><FromUserName>o</FromUserName><MsgType>text</MsgType><Content>hi</Content></xml>",
])
def test_entity_declarations_and_any_dtd_are_refused(client, body):
    args, _ = WeChatPeer(TOKEN).sign("")
    assert client.post("/wechat", query_string=args, data=body).status_code == 400


def test_get_and_post_on_unknown_paths_are_4xx(client):
    assert client.get("/nowhere").status_code == 404
    assert client.put("/wechat").status_code == 405


def test_retried_message_is_answered_once_with_the_same_reply(chat, store):
    xml = chat.peer.xml("o_retry", "text", "党费怎么交", msg_id=424242)
    first = chat.post(xml).get_data(as_text=True)
    calls = []
    original = store._save_session
    store._save_session = lambda *a, **k: calls.append(a) or original(*a, **k)
    for _ in range(3):
        again = chat.post(xml).get_data(as_text=True)
        assert chat.peer.read_reply(again)["Content"] == chat.peer.read_reply(first)["Content"]
    assert calls == []  # the retries changed nothing


def test_retried_pick_does_not_advance_the_conversation_twice(chat, store):
    chat.send("党员组织关系转接", user="o_pick")
    assert store.load_session("o_pick").get("flow") == "consult.pick"
    xml = chat.peer.xml("o_pick", "text", "1", msg_id=777)
    first = chat.peer.read_reply(chat.post(xml).get_data(as_text=True))["Content"]
    second = chat.peer.read_reply(chat.post(xml).get_data(as_text=True))["Content"]
    assert first == second and "一次性告知" in first


def test_same_msgid_from_two_users_is_two_messages(chat):
    a = chat.send("党费怎么交", user="o_a", msg_id=5)
    b = chat.send("周六开门吗", user="o_b", msg_id=5)
    assert a != b


def test_events_are_deduplicated_by_create_time_event_and_key(chat, store):
    chat.event("CLICK", user="o_ev", key="CONSULT_POPULAR", create_time=1700000000)
    store.save_session("o_ev", {})
    chat.event("CLICK", user="o_ev", key="CONSULT_POPULAR", create_time=1700000000)
    assert store.load_session("o_ev") == {}  # the retry did not set the flow again
    chat.event("CLICK", user="o_ev", key="CONSULT_POPULAR", create_time=1700000001)
    assert store.load_session("o_ev").get("flow") == "consult.pick"


def test_healthz_reports_redis_and_knowledge(client, kb):
    data = client.get("/healthz").get_json()
    assert data["status"] == "ok" and data["matters"] == len(kb.matters)


def test_a_plaintext_consultation_is_two_round_trips_the_claim_and_the_finish(chat, store, monkeypatch):
    """The claim carries the memory of the signed URL, and the finishing script carries the question
    log: two round trips to Redis for a consultation (on a Cluster, where those keys live on other
    nodes, one per node instead)."""
    chat.send("党费怎么交", user="o_trips_warm")  # the scripts loaded once per server, not per message
    trips = []
    original_pipeline, original_command = store.r.pipeline, store.r.execute_command

    def pipeline(*args, **kwargs):
        pipe = original_pipeline(*args, **kwargs)
        execute = pipe.execute
        monkeypatch.setattr(pipe, "execute", lambda *a, **k: trips.append([c[0][0] for c in pipe.command_stack])
                            or execute(*a, **k))
        return pipe

    monkeypatch.setattr(store.r, "pipeline", pipeline)
    monkeypatch.setattr(store.r, "execute_command", lambda *a, **k: trips.append([a[0]]) or original_command(*a, **k))
    assert "一次性告知" in chat.send("党费怎么交", user="o_trips")
    if isinstance(store.r, RedisCluster):
        assert len(trips) == 4
    else:
        assert trips == [["EVALSHA", "EVALSHA"], ["EVALSHA", "HSET", "ZADD"]]
    assert store.asked.recent(1)[0]["question"] == "党费怎么交"

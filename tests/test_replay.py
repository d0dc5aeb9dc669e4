"""A signed URL no one can replay (issue 12): the timestamp window, the memory of signatures seen with the
hash of their body, safe mode without plaintext, and text with `<!` that is a citizen's, not markup."""
from __future__ import annotations

import logging
import time

import pytest

from bot import create_app
from bot.config import ConfigError, Settings
from bot.peer import WeChatPeer
from bot.store.replay import NEW, REPLAY, RETRY, LocalReplayMemory, SignedRequest
from tests.conftest import AES_KEY, APP_ID, TOKEN, Chat


def post(client, args, body):
    return client.post("/wechat", query_string=args, data=body, content_type="text/xml")


@pytest.mark.parametrize("stamp", ["2020-01-01", "2099-01-01", "six minutes ago", "six minutes ahead"])
def test_a_signed_request_with_a_timestamp_outside_the_window_is_refused(client, store, stamp):
    when = {"2020-01-01": 1577836800, "2099-01-01": 4070908800,
            "six minutes ago": int(time.time()) - 360, "six minutes ahead": int(time.time()) + 360}[stamp]
    peer = WeChatPeer(TOKEN)
    args, body = peer.sign(peer.xml("o_old", "text", "党费怎么交"), timestamp=when)
    assert post(client, args, body).status_code == 403
    assert store.profile("o_old") == {}  # not processed
    assert client.get("/wechat", query_string={**args, "echostr": "e"}).status_code == 403


def test_a_timestamp_inside_the_window_is_answered(chat):
    args, body = chat.peer.sign(chat.peer.xml("o_recent", "text", "党费怎么交"), timestamp=int(time.time()) - 200)
    res = post(chat.client, args, body)
    assert res.status_code == 200 and "党费" in chat.peer.read_reply(res.get_data(as_text=True))["Content"]


def test_the_window_is_a_setting(settings_env, ctx):
    app = create_app(Settings.from_env(dict(settings_env, WECHAT_TIMESTAMP_WINDOW="60")), context=ctx)
    peer = WeChatPeer(TOKEN)
    args, body = peer.sign(peer.xml("o_w", "text", "党费怎么交"), timestamp=int(time.time()) - 120)
    assert post(app.test_client(), args, body).status_code == 403
    with pytest.raises(ConfigError, match="WECHAT_TIMESTAMP_WINDOW"):
        Settings.from_env(dict(settings_env, WECHAT_TIMESTAMP_WINDOW="forever"))


def test_a_signed_url_from_a_log_cannot_carry_a_staff_members_command(client, store, caplog):
    store.add_staff("王芳", "o_wang_staff", role="window")
    peer = WeChatPeer(TOKEN)
    args, body = peer.sign(peer.xml("o_citizen", "text", "周六开门吗"))
    assert post(client, args, body).status_code == 200  # WeChat's own delivery
    forged = peer.xml("o_wang_staff", "text", "待办")
    with caplog.at_level(logging.INFO):
        res = post(client, args, forged.encode())  # the same signed URL, another body
    assert res.status_code == 403
    assert store.profile("o_wang_staff") == {}  # not processed
    assert "replay" in caplog.text
    for personal in ("o_wang_staff", "o_citizen", "待办", args["signature"], args["nonce"]):
        assert personal not in caplog.text  # logged without personal data


def test_a_replay_sent_to_another_process_is_refused_by_the_shared_memory_in_the_claims_round_trip(
        settings_env, ctx, store, caplog):
    """Each gunicorn worker has its own memory; the shared one is in Redis, remembered in the round trip
    that claims the message. A forged body claims nothing, and the real message is still answered."""
    first, second = (create_app(Settings.from_env(settings_env), context=ctx) for _ in range(2))
    peer = WeChatPeer(TOKEN)
    args, body = peer.sign(peer.xml("o_citizen2", "text", "周六开门吗", msg_id=4242))
    forged = peer.xml("o_victim", "text", "党费怎么交", msg_id=4343).encode()
    assert post(first.test_client(), args, body).status_code == 200
    with caplog.at_level(logging.INFO):
        assert post(second.test_client(), args, forged).status_code == 403
    assert "replay" in caplog.text
    assert store.profile("o_victim") == {}
    assert store.claim_message("o_victim", "m4343").state == "new"  # the forged claim was given back
    assert post(second.test_client(), args, body).status_code == 200  # WeChat's retry, in the other process


def test_a_replay_that_reaches_redis_first_claims_nothing_the_real_message_needs(settings_env, ctx, store):
    """A leaked URL used before WeChat's own delivery gets there: the forger's body is answered (it came
    first), and WeChat's real delivery of the same URL is then the replay. Neither claims the other's
    message."""
    first, second = (create_app(Settings.from_env(settings_env), context=ctx) for _ in range(2))
    peer = WeChatPeer(TOKEN)
    args, body = peer.sign(peer.xml("o_real", "text", "周六开门吗", msg_id=5151))
    assert post(first.test_client(), args, peer.xml("o_fake", "text", "党费怎么交", msg_id=5252).encode()).status_code == 200
    assert post(second.test_client(), args, body).status_code == 403
    assert store.claim_message("o_real", "m5151").state == "new"


def test_wechats_own_retry_of_the_same_request_is_processed_once_and_answered_every_time(chat, store):
    calls = []
    original = store.finish_message
    store.finish_message = lambda *a, **k: calls.append(a) or original(*a, **k)
    args, body = chat.peer.sign(chat.peer.xml("o_same", "text", "党员组织关系转接"))
    replies = [post(chat.client, args, body) for _ in range(3)]  # three deliveries, one signature
    assert [r.status_code for r in replies] == [200, 200, 200]
    texts = {chat.peer.read_reply(r.get_data(as_text=True))["Content"] for r in replies}
    assert len(texts) == 1 and "回复序号" in texts.pop()
    assert len(calls) == 1  # handled once
    assert store.load_session("o_same").get("flow") == "consult.pick"


def test_a_replay_is_refused_from_this_process_memory_while_redis_is_out_of_reach(app, ctx):
    client = app.test_client()
    peer = WeChatPeer(TOKEN)
    args, body = peer.sign(peer.xml("o_down", "text", "周六开门吗"))
    app.extensions["centerbot.store_paused_until"] = ctx.clock.timestamp() + 3600  # Redis unreachable
    assert post(client, args, body).status_code == 200  # answered from memory
    assert post(client, args, body).status_code == 200  # WeChat's retry
    assert post(client, args, peer.xml("o_down", "text", "待办").encode()).status_code == 403


def test_the_process_memory_says_new_retry_and_replay_and_forgets_after_its_time():
    memory = LocalReplayMemory(size=2)
    assert memory.remember(SignedRequest.of("1", "n", "s", b"a", keep=60)) == NEW
    assert memory.remember(SignedRequest.of("1", "n", "s", b"a", keep=60)) == RETRY
    assert memory.remember(SignedRequest.of("1", "n", "s", b"b", keep=60)) == REPLAY
    memory.remember(SignedRequest.of("2", "n", "s", b"a", keep=60))
    memory.remember(SignedRequest.of("3", "n", "s", b"a", keep=60))  # the oldest is forgotten past the size
    assert memory.remember(SignedRequest.of("1", "n", "s", b"b", keep=0)) == NEW


@pytest.fixture()
def safe_env(settings_env):
    return dict(settings_env, WECHAT_ENCODING_AES_KEY=AES_KEY, WECHAT_APP_ID=APP_ID)


def test_safe_mode_refuses_a_plaintext_message(safe_env, ctx):
    app = create_app(Settings.from_env(safe_env), context=ctx)
    chat = Chat(app.test_client(), WeChatPeer(TOKEN))  # signed with the token, but not encrypted
    assert chat.post(chat.peer.xml("o_plain", "text", "党费怎么交")).status_code == 403
    assert ctx.store.profile("o_plain") == {}


def test_compatible_mode_is_a_setting_that_accepts_plaintext(safe_env, ctx):
    app = create_app(Settings.from_env(dict(safe_env, WECHAT_COMPATIBLE_MODE="1")), context=ctx)
    plain = Chat(app.test_client(), WeChatPeer(TOKEN))
    assert "党费" in plain.send("党费怎么交")
    encrypted = Chat(app.test_client(), WeChatPeer(TOKEN, AES_KEY, APP_ID, compatible=True))
    assert "党费" in encrypted.send("党费怎么交", user="o_enc")
    with pytest.raises(ConfigError, match="WECHAT_COMPATIBLE_MODE"):
        Settings.from_env(dict(safe_env, WECHAT_COMPATIBLE_MODE="1", WECHAT_ENCODING_AES_KEY=""))


def test_in_safe_mode_the_signature_binds_the_message_so_no_replay_memory_round_trip_is_needed(safe_env, ctx):
    """msg_signature covers the encrypted message: a replayed request is the same message, answered once
    and from its kept reply every time; another body under that signature fails the signature itself.
    The memory of signatures (a Redis round trip per message) is for plaintext bodies only."""
    app = create_app(Settings.from_env(safe_env), context=ctx)
    remembered = []
    store_claim = ctx.store.claim_message
    ctx.store.claim_message = lambda *a, **k: remembered.extend(a[2:]) or store_claim(*a, **k)
    finished = []
    store_finish = ctx.store.finish_message
    ctx.store.finish_message = lambda *a, **k: finished.append(a) or store_finish(*a, **k)
    peer = WeChatPeer(TOKEN, AES_KEY, APP_ID)
    client = app.test_client()
    args, body = peer.sign(peer.xml("o_safe_replay", "text", "党费怎么交"))
    replies = [post(client, args, body) for _ in range(3)]
    assert [r.status_code for r in replies] == [200, 200, 200]
    assert len({peer.read_reply(r.get_data(as_text=True))["Content"] for r in replies}) == 1
    assert len(finished) == 1 and all(request is None for request in remembered)
    _, other = peer.sign(peer.xml("o_safe_replay", "text", "待办"))
    assert post(client, args, other).status_code == 403


@pytest.mark.parametrize("text", ["你们服务太差了<!>", "<!DOCTYPE 是什么意思", "a <!-- b", "<![CDATA[ 嵌套"])
def test_text_that_merely_contains_markup_characters_is_answered(chat, text):
    res = chat.post(chat.peer.xml("o_lt", "text", text))
    assert res.status_code == 200
    assert chat.peer.read_reply(res.get_data(as_text=True))["Content"]


def test_text_with_markup_characters_is_answered_in_safe_mode(safe_env, ctx):
    app = create_app(Settings.from_env(safe_env), context=ctx)
    chat = Chat(app.test_client(), WeChatPeer(TOKEN, AES_KEY, APP_ID))
    assert chat.send("你们服务太差了<!>", user="o_lt_safe")


def test_a_dtd_hidden_between_processing_instructions_is_refused(client):
    body = (b'<?a <![CDATA[ ?><!DOCTYPE xml [<!ENTITY x "boom">]><?b ]]> ?>'
            b"<xml><FromUserName>o</FromUserName><MsgType>text</MsgType><Content>&x;</Content></xml>")
    args, _ = WeChatPeer(TOKEN).sign("")
    assert client.post("/wechat", query_string=args, data=body).status_code == 400

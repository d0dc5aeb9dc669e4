"""The /wechat endpoint: verify, de-duplicate, run the conversation within WeChat's 5 s, reply.

The handler runs inline; bot/watchdog.py defers a message whose handler overruns the budget."""
from __future__ import annotations

import dataclasses
import logging
import time
import uuid

import redis
from flask import Blueprint, Response, current_app, request

from bot.store import CLAIM_LEASE, Unreachable
from bot.store.replay import NEW, REPLAY, SignedRequest
from bot.watchdog import WATCHDOG
from bot.wechat import BadRequest, Forbidden, Inbound, read_inbound, verify_url
from handlers.dispatch import dispatch, handle_message
from handlers.message import Reply
from handlers.render import WECHAT_TEXT_LIMIT, split_by_bytes, utf8_len

log = logging.getLogger(__name__)
bp = Blueprint("webhook", __name__)

PATH = "/wechat"
# Seconds from a request's arrival by which it is answered: WeChat drops a request after 5 s. A handler
# still running then answers later through the outbox (customer-service messages).
HANDLER_BUDGET = 4.0
# How long a delivery of a message that is still being handled (a retry) waits: until the first delivery
# has answered, or its claim's lease has run out (its process died) and this delivery takes it over. A
# retry never answers `success` for a message nobody finished: WeChat would stop retrying and a killed
# process would lose the message. The lease always runs out within this time on a shared clock.
RETRY_WAIT = CLAIM_LEASE + 1.0
RETRY_POLL = 0.05
# After Redis failed to answer, this process answers from memory for this many seconds before it tries
# Redis again: each try may cost a socket timeout (2 s), and WeChat gives a reply 5 s in all.
STORE_PAUSE = 3.0
# Failures that say Redis is out of reach (down, unreachable, restarting, failing over), not a bad command.
UNREACHABLE = (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ReadOnlyError,
               redis.exceptions.ClusterDownError)


def _xml(body: str) -> Response:
    return Response(body, content_type="application/xml; charset=utf-8")


def _forbidden(reason: object) -> Response:
    # the reason is ours (never the body, the openid or the signature): safe to log
    log.warning("refused a webhook request: %s", reason)
    return Response("forbidden", status=403, content_type="text/plain")


@bp.get(PATH)
def verify():
    try:
        return Response(verify_url(current_app.config["SETTINGS"], request.args), content_type="text/plain")
    except Forbidden as exc:
        return _forbidden(exc)


@bp.post(PATH)
def receive():
    arrived = time.monotonic()
    app = current_app._get_current_object()
    settings = app.config["SETTINGS"]
    body = request.get_data(cache=False)
    try:
        inbound = read_inbound(settings, request.args, body)
    except Forbidden as exc:
        return _forbidden(exc)
    except BadRequest as exc:
        return Response(f"bad request: {exc}", status=400, content_type="text/plain")
    nonce = request.args.get("nonce")
    ctx = app.extensions["centerbot"]
    paused_until = app.extensions.get("centerbot.store_paused_until", 0.0)
    store_paused = ctx.clock.timestamp() < paused_until
    # In safe mode msg_signature covers the encrypted message itself: a replay carries the same message,
    # which the claim below answers from its kept reply, and another body fails the signature. Only a
    # plaintext body (plain or compatible mode) needs the memory of signed URLs and their bodies: this
    # process's own first, then the shared one, remembered in the claim's round trip.
    local = app.extensions["centerbot.replay_local"]
    signed = None if inbound.encrypted else _signed(settings, body)
    seen_here = local.remember(signed) if signed is not None else NEW
    if seen_here == REPLAY:
        return _forbidden(_REPLAYED)
    if store_paused:
        text = _answer_without_store(ctx, inbound.message)
    else:
        try:
            text = _answer_once(app, inbound, arrived, signed)
        except Forbidden as exc:  # the shared memory had this URL with another body
            if seen_here == NEW:
                local.forget(signed)
            return _forbidden(exc)
        except redis.RedisError as exc:
            log.error("store unavailable (%s): answering from memory", type(exc).__name__)
            if isinstance(exc, UNREACHABLE):
                app.extensions["centerbot.store_paused_until"] = ctx.clock.timestamp() + STORE_PAUSE
            text = _answer_without_store(ctx, inbound.message)
    return _xml(inbound.render(settings, text, nonce))


_REPLAYED = "a signature already seen, with another body (replay)"


def _signed(settings, body: bytes) -> SignedRequest:
    """This plaintext request's signed URL (timestamp, nonce, signature) and body, to be remembered for
    as long as its timestamp is acceptable. While Redis is out of reach, this process's memory holds
    (and the timestamp window), and nothing that needs the store is done anyway (docs/deploy.md)."""
    args = request.args
    keep = int(2 * settings.timestamp_window) + 60  # a timestamp stays acceptable this long at most
    return SignedRequest.of(args.get("timestamp", ""), args.get("nonce", ""), args.get("signature", ""), body, keep)


def _answer_without_store(ctx, msg) -> str:
    """Redis is down: what needs no storage (matters, hours) is still answered from memory; bookings
    and records say politely they are briefly unavailable. Nothing is written, so nothing is half done,
    and the store is not asked again (another timeout would cost WeChat's budget)."""
    try:
        reply = fit(dispatch(msg, {}, dataclasses.replace(ctx, store=Unreachable())))
    except redis.RedisError:
        return ctx.render("common/store_down.txt", center=ctx.kb.center)
    return reply.text if not reply.followups else reply.text + "\n" + ctx.render("common/store_down_more.txt")


def _answer_once(app, inbound: Inbound, arrived: float | None = None, signed: SignedRequest | None = None) -> str:
    """The reply text for a message, computing it only the first time WeChat delivers it.

    A later delivery (WeChat's retry) waits for the first one's answer; if the first delivery's process
    died, its claim's lease runs out and this delivery takes the message over. Whatever is still being
    computed when WeChat stops waiting (the watchdog marks it deferred) is answered through the outbox.
    A plaintext request's signed URL is remembered in the claim's round trip: Forbidden if it was seen
    with another body."""
    arrived = time.monotonic() if arrived is None else arrived
    ctx = app.extensions["centerbot"]
    msg = inbound.message
    seen = ctx.store.claim_message(msg.openid, msg.dedup_key, signed)
    if seen.state == REPLAY:
        raise Forbidden(_REPLAYED)
    while seen.state == "pending" and time.monotonic() < arrived + RETRY_WAIT:
        time.sleep(RETRY_POLL)
        seen = ctx.store.claim_message(msg.openid, msg.dedup_key)  # "new" once a dead handler's lease ran out
    if seen.state == "done":
        return seen.reply or ""
    if seen.state == "pending":
        log.warning("a message was still pending past its claim's lease (clocks apart?)")
    if seen.state != "new":
        return ""  # deferred: its answer comes through the outbox
    with ctx.store.writes_put_off():  # the handler's question log goes with the finishing round trip
        return _handle(ctx, msg, seen.session, arrived)


def _handle(ctx, msg, session: dict, arrived: float) -> str:
    """Run the handler inline, watched: answer in time, or through the outbox once it is deferred."""
    watch = WATCHDOG.watch(
        arrived + HANDLER_BUDGET, lambda: ctx.store.finish_message(msg.openid, msg.dedup_key, "deferred"))
    try:
        reply, session = handle_message(msg, session, ctx)
    except Exception:
        ref = uuid.uuid4().hex[:8]
        log.exception("handler failed (ref %s, kind %s)", ref, msg.kind)
        if not WATCHDOG.finish(watch):
            _deliver_late(ctx, msg, Reply(ctx.render("common/busy.txt")), None)
            return ""
        ctx.store.release_message(msg.openid, msg.dedup_key)
        return ctx.render("common/busy.txt")
    except BaseException:  # the process is being stopped: the claim's lease lets WeChat's retry take over
        WATCHDOG.finish(watch)
        raise
    if not WATCHDOG.finish(watch):
        _deliver_late(ctx, msg, reply, session)
        return ""
    reply = fit(reply)
    _queue_followups(ctx, msg, reply)
    ctx.store.finish_message(msg.openid, msg.dedup_key, "done", reply.text, session=session)
    return reply.text


def fit(reply: Reply) -> Reply:
    """Keep the passive reply within WeChat's 2048 bytes: what does not fit follows, never cut."""
    if utf8_len(reply.text) <= WECHAT_TEXT_LIMIT:
        return reply
    parts = split_by_bytes(reply.text, WECHAT_TEXT_LIMIT)
    return Reply(parts[0], followups=parts[1:] + reply.followups)


def _queue_followups(ctx, msg, reply: Reply, first: int = 0) -> None:
    for i, text in enumerate(reply.followups, first):
        ctx.store.enqueue(msg.openid, "text", {"content": text}, dedup=f"{msg.openid}:{msg.dedup_key}:{i}")


def _deliver_late(ctx, msg, reply: Reply, session: dict | None) -> None:
    """A handler that overran the budget (WeChat has stopped waiting): its answer goes out as
    customer-service messages."""
    if reply.text:
        ctx.store.enqueue(msg.openid, "text", {"content": reply.text}, dedup=f"{msg.openid}:{msg.dedup_key}:late")
    _queue_followups(ctx, msg, reply)
    ctx.store.finish_message(msg.openid, msg.dedup_key, "done", "", session=session)

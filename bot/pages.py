"""Plain web pages: the printable written notice of a matter, a small index, and /healthz."""
from __future__ import annotations

import redis
from flask import Blueprint, Response, abort, current_app, jsonify

bp = Blueprint("pages", __name__)


@bp.get("/")
def index():
    ctx = current_app.extensions["centerbot"]
    return ctx.render("pages/index.html", center=ctx.kb.center, kb=ctx.kb)


@bp.get("/notice/<matter_id>")
def notice(matter_id: str):
    ctx = current_app.extensions["centerbot"]
    matter = ctx.kb.matters.get(matter_id)
    if matter is None:
        abort(404)
    return ctx.render("pages/notice.html", m=matter, window=ctx.kb.center.window(matter.window),
                      center=ctx.kb.center, today=ctx.clock.today())


@bp.get("/healthz")
def healthz():
    ctx = current_app.extensions["centerbot"]
    try:
        ctx.store.ping()
        outbox = ctx.store.outbox_counts()
    except redis.RedisError:
        return jsonify(status="degraded", redis="unreachable", matters=len(ctx.kb.matters)), 503
    return jsonify(status="ok", redis="ok", matters=len(ctx.kb.matters), outbox=outbox)


def text_error(status: int, message: str) -> Response:
    return Response(message, status=status, content_type="text/plain; charset=utf-8")

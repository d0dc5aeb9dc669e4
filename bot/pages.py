"""Plain web pages: the printable written notice of a matter, a small index, and /healthz."""
from __future__ import annotations

import redis
from flask import Blueprint, Response, abort, current_app, jsonify, request

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


@bp.get("/application/<no>")
def application(no: str):
    """The printable written notice of a window application: a 承诺通知单, or the notice of a refusal with
    its reason. Reached with the token printed in its link (it names a citizen)."""
    import hmac

    from handlers import applications

    ctx = current_app.extensions["centerbot"]
    record = ctx.store.records.get(no) if len(no) <= 20 else None
    token = request.args.get("k", "")
    if (record is None or record.get("type") != "application" or not record.get("token")
            or not hmac.compare_digest(str(record["token"]), token)):
        abort(404)
    return ctx.render("pages/application.html", **applications.page_values(ctx, record))


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

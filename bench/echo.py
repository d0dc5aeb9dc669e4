"""The floor cost of the WeChat protocol: a bare Flask + wechatpy webhook that checks the signature,
parses the message and echoes its text back, with nothing else. `bench/load_bench.py` serves it with
the Procfile's gunicorn settings (`gunicorn 'bench.echo:create_app()'`) beside the real app, so the
bot's cost can be read as a ratio to this one.
"""
from __future__ import annotations

import os

from flask import Flask, Response, request
from wechatpy import parse_message
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from bot.config import DEV_TOKEN


def create_app(token: str | None = None) -> Flask:
    token = token or os.environ.get("WECHAT_TOKEN") or DEV_TOKEN
    app = Flask(__name__)

    @app.post("/wechat")
    def echo():
        args = request.args
        try:
            check_signature(token, args.get("signature", ""), args.get("timestamp", ""), args.get("nonce", ""))
        except InvalidSignatureException:
            return Response("forbidden", status=403, content_type="text/plain")
        msg = parse_message(request.get_data())
        if msg.type != "text":
            return Response("success", content_type="text/plain")
        return Response(TextReply(message=msg, content=msg.content).render(),
                        content_type="application/xml; charset=utf-8")

    return app

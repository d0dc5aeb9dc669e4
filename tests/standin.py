"""A local stand-in for the WeChat API (token, customer-service send, menu), recording every call.

Tests point wechatpy's client at it with WECHAT_API_BASE and can make it fail on purpose, or hold a
call (the caller is then mid-request, for as long as the test wants) before or after accepting it.
"""
from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


@dataclass
class Call:
    path: str
    params: dict
    body: dict
    accepted: bool = False  # WeChat took the message (errcode 0), whether or not the caller heard it


@dataclass
class Hold:
    """The next call of a path waits until `release` (or the stand-in stops); `arrived` is set when the
    call is waiting. `accept`: WeChat has taken the message before the wait (only its answer is late),
    else the call is dropped unprocessed after it."""

    accept: bool
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


@dataclass
class WeChatStandIn:
    calls: list[Call] = field(default_factory=list)
    tokens_issued: int = 0
    # queued failures for the next calls of a path: an int HTTP status or a dict WeChat error body
    failures: dict[str, deque] = field(default_factory=dict)
    valid_tokens: set[str] = field(default_factory=set)
    holds: dict[str, deque] = field(default_factory=dict)
    all_holds: list[Hold] = field(default_factory=list)

    def hold_next(self, path: str, accept: bool = False) -> Hold:
        hold = Hold(accept)
        self.holds.setdefault(path, deque()).append(hold)
        self.all_holds.append(hold)
        return hold

    def accepted(self, path: str = "/cgi-bin/message/custom/send") -> list[dict]:
        """The messages WeChat took: what the citizens and staff actually received."""
        return [c.body for c in self.calls if c.path == path and c.accepted]

    def fail_next(self, path: str, *outcomes) -> None:
        self.failures.setdefault(path, deque()).extend(outcomes)

    def sent(self, path: str = "/cgi-bin/message/custom/send") -> list[dict]:
        return [c.body for c in self.calls if c.path == path]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/cgi-bin/"

    def _app(self, environ, start_response):
        req = Request(environ)
        body = json.loads(req.get_data() or b"{}")
        call = Call(req.path, dict(req.args), body)
        self.calls.append(call)
        holds = self.holds.get(req.path)
        hold = holds.popleft() if holds else None
        if hold is not None and not hold.accept:
            hold.arrived.set()
            hold.release.wait(60)
            return Response("dropped", status=503)(environ, start_response)
        queued = self.failures.get(req.path)
        if queued:
            outcome = queued.popleft()
            if isinstance(outcome, int):
                return Response("error", status=outcome)(environ, start_response)
            return Response(json.dumps(outcome), content_type="application/json")(environ, start_response)
        if req.path == "/cgi-bin/token":
            self.tokens_issued += 1
            token = f"TOKEN-{self.tokens_issued}"
            self.valid_tokens.add(token)
            result = {"access_token": token, "expires_in": 7200}
        elif req.args.get("access_token") not in self.valid_tokens:
            result = {"errcode": 40001, "errmsg": "invalid credential"}
        else:
            result = {"errcode": 0, "errmsg": "ok"}
            call.accepted = True
        if hold is not None:
            hold.arrived.set()
            hold.release.wait(60)
        return Response(json.dumps(result), content_type="application/json")(environ, start_response)

    def start(self) -> None:
        self.server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        for hold in self.all_holds:
            hold.release.set()
        self.server.shutdown()

"""A local stand-in for the WeChat API, recording every call: access tokens (classic `token` and
`stable_token`), customer-service texts, template messages, subscribe messages (订阅通知), menus.

Tests point wechatpy's client at it with WECHAT_API_BASE and can make it fail on purpose, or hold a
call (the caller is then mid-request, for as long as the test wants) before or after accepting it.

It keeps WeChat's rules of today, and is stricter where WeChat is silent, so that a test fails where a
citizen would see less than we meant:
- customer-service texts: at most 2048 bytes (45002); a user the test says wrote (`user_wrote`) may
  get 5 texts until they write again, then 45047 (users never mentioned are not counted);
- template messages (`templates` registers an id and its keyword fields; else 40037) and subscribe
  messages (`subscribe_templates`, and the user must have agreed: `agree`, one message per agreement;
  else 43101): every keyword of the template filled, no other field, no colour, each value within
  its field type's rule: thing/keyword at most 20 characters, character_string 32 letters, digits or
  symbols, phrase 5 Chinese characters, time/date like 2026年12月3日 09:30. WeChat answers 47003 for a
  broken rule but silently drops `first`/`remark`/colours and cuts a long keyword at 20 characters;
  the stand-in answers 47003 for those too.
- stable_token: POST JSON only; the normal mode returns the token in force (a new one only when there
  is none), `force_refresh` replaces it (WeChat: 20 a day, 30 s apart; the stand-in counts them).
"""
from __future__ import annotations

import json
import re
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
    classic_token_calls: int = 0  # GET /cgi-bin/token (the API stable_token replaces)
    stable_token_calls: int = 0
    forced_refreshes: int = 0
    current_token: str | None = None  # what stable_token's normal mode hands out
    refused_tokens: set[str] = field(default_factory=set)  # see refuse_token
    # template id -> its keyword fields, for template messages and subscribe messages
    templates: dict[str, list[str]] = field(default_factory=dict)
    subscribe_templates: dict[str, list[str]] = field(default_factory=dict)
    agreements: dict[tuple[str, str], int] = field(default_factory=dict)  # (openid, template id) -> left
    cs_left: dict[str, int] = field(default_factory=dict)  # openid -> customer-service texts left

    def user_wrote(self, openid: str) -> None:
        """The user sent the account a message: 5 customer-service texts may follow (48 hours)."""
        self.cs_left[openid] = 5

    def agree(self, openid: str, template_id: str, times: int = 1) -> None:
        """The user agreed to receive a subscribe message of this template (once per agreement)."""
        self.agreements[(openid, template_id)] = self.agreements.get((openid, template_id), 0) + times

    def refuse_token(self, token: str) -> None:
        """WeChat stops accepting `token` although stable_token's normal mode still hands it out."""
        self.valid_tokens.discard(token)
        self.refused_tokens.add(token)

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
            self.classic_token_calls += 1
            result = {"access_token": self._issue(), "expires_in": 7200}
        elif req.path == "/cgi-bin/stable_token":
            result = self._stable_token(req, body)
        elif req.args.get("access_token") not in self.valid_tokens:
            result = {"errcode": 40001, "errmsg": "invalid credential"}
        else:
            result = self._message(req.path, body)
            call.accepted = result["errcode"] == 0
        if hold is not None:
            hold.arrived.set()
            hold.release.wait(60)
        return Response(json.dumps(result), content_type="application/json")(environ, start_response)

    def _issue(self) -> str:
        self.tokens_issued += 1
        token = f"TOKEN-{self.tokens_issued}"
        self.valid_tokens.add(token)
        return token

    def _stable_token(self, req: Request, body: dict) -> dict:
        self.stable_token_calls += 1
        if req.method != "POST" or not req.is_json:
            return {"errcode": 40002, "errmsg": "stable_token takes POST JSON only"}
        if body.get("grant_type") != "client_credential" or not body.get("appid") or not body.get("secret"):
            return {"errcode": 40013, "errmsg": "invalid appid or secret"}
        if body.get("force_refresh") is True:
            self.forced_refreshes += 1
            if self.current_token:
                self.valid_tokens.discard(self.current_token)
            self.current_token = None
        # the normal mode hands out the token in force; a new one when there is none or it was revoked
        # (refuse_token: WeChat refuses it yet still hands it out, until a forced refresh)
        if self.current_token is None or (self.current_token not in self.valid_tokens
                                          and self.current_token not in self.refused_tokens):
            self.current_token = self._issue()
        return {"access_token": self.current_token, "expires_in": 7200}

    def _message(self, path: str, body: dict) -> dict:
        """WeChat's answer to a message send (errcode 0 when it takes it)."""
        if path == "/cgi-bin/message/custom/send":
            if body.get("msgtype") == "text":
                content = body.get("text", {}).get("content", "")
                if len(content.encode("utf-8")) > 2048:
                    return {"errcode": 45002, "errmsg": "content size out of limit"}
            user = body.get("touser", "")
            if user in self.cs_left:
                if self.cs_left[user] <= 0:
                    return {"errcode": 45047, "errmsg": "out of response count limit"}
                self.cs_left[user] -= 1
        elif path == "/cgi-bin/message/template/send":
            problem = self._check_fields(self.templates, body)
            if problem:
                return problem
        elif path == "/cgi-bin/message/subscribe/bizsend":
            problem = self._check_fields(self.subscribe_templates, body)
            if problem:
                return problem
            key = (body.get("touser", ""), body.get("template_id", ""))
            if self.agreements.get(key, 0) <= 0:
                return {"errcode": 43101, "errmsg": "user refuse to accept the msg"}
            self.agreements[key] -= 1
        return {"errcode": 0, "errmsg": "ok"}

    @staticmethod
    def _check_fields(registered: dict[str, list[str]], body: dict) -> dict | None:
        fields = registered.get(body.get("template_id", ""))
        if fields is None:
            return {"errcode": 40037, "errmsg": "invalid template_id"}
        data = body.get("data")
        if not isinstance(data, dict):
            return {"errcode": 47003, "errmsg": "argument invalid! data"}
        for name in ("first", "remark"):
            if name in data:
                return {"errcode": 47003, "errmsg": f"argument invalid! data.{name}: not shown since May 2023"}
        unknown = sorted(set(data) - set(fields))
        missing = sorted(set(fields) - set(data))
        if unknown or missing:
            return {"errcode": 47003, "errmsg": f"argument invalid! data.{(unknown or missing)[0]}"}
        for name, entry in data.items():
            if not isinstance(entry, dict) or set(entry) != {"value"} or not isinstance(entry["value"], str):
                return {"errcode": 47003, "errmsg": f"argument invalid! data.{name} (only a value, no color)"}
            if not field_fits(name, entry["value"]):
                return {"errcode": 47003, "errmsg": f"argument invalid! data.{name}.value invalid"}
        return None

    def start(self) -> None:
        self.server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        for hold in self.all_holds:
            hold.release.set()
        self.server.shutdown()


_TIME = re.compile(r"^\d{4}年\d{1,2}月\d{1,2}日( \d{2}:\d{2})?$")


def field_fits(name: str, value: str) -> bool:
    """WeChat's rule for a keyword value by its field's type (the name without its number)."""
    kind = re.sub(r"\d+$", "", name)
    if not value:
        return False
    if kind in ("thing", "keyword"):
        return len(value) <= 20
    if kind == "character_string":
        return len(value) <= 32 and bool(re.fullmatch(r"[\x21-\x7e]+", value))
    if kind == "phrase":
        return len(value) <= 5 and bool(re.fullmatch(r"[\u4e00-\u9fff]+", value))
    if kind in ("time", "date"):
        return bool(_TIME.match(value))
    return False  # a type the stand-in does not know: refuse, so that a test notices

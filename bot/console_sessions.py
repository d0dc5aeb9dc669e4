"""Console sessions kept on the server: the cookie carries a random id, Redis the session (who signed in,
the CSRF token, flashes). Ending the Redis entry ends the session wherever its cookie was copied to:
sign-out deletes it, and each request checks the member's stamp (role and password hash) so that a
password change, a role change or removal from the roster ends every session of that member."""
from __future__ import annotations

import hashlib
import logging
import re

import redis
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

log = logging.getLogger(__name__)

ANONYMOUS_TTL = 3600  # a sign-in page's session (only its CSRF token) lives an hour
_SID = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


def staff_stamp(member: dict) -> str:
    """What a session was granted for: it ends when the member's role or password hash changes."""
    text = f"{member.get('role', '')}|{member.get('password', '')}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class ServerSession(CallbackDict, SessionMixin):
    """A session whose data lives in Redis under `sid` (None until first stored)."""

    def __init__(self, initial=None, sid: str | None = None, unavailable: bool = False):
        def changed(_):
            self.modified = True

        super().__init__(initial, changed)
        self.sid = sid
        self.new = sid is None
        self.modified = False
        self.unavailable = unavailable  # the store could not be read: the console answers 503
        self.rotate_requested = False

    def rotate(self) -> None:
        """Give the session a new id (at sign-in), ending the old one: a session id planted before
        sign-in (session fixation) is worth nothing after it."""
        self.rotate_requested = True
        self.modified = True


class ServerSessions(SessionInterface):
    """Flask's session interface over `store.access`; the webhook (no cookies) gets no session."""

    def __init__(self, webhook_path: str, lifetime: int):
        self.webhook_path = webhook_path
        self.lifetime = lifetime

    @staticmethod
    def _access(app):
        return app.extensions["centerbot"].store.access

    def open_session(self, app, request):
        if request.path == self.webhook_path:
            return self.make_null_session(app)
        sid = request.cookies.get(self.get_cookie_name(app), "")
        if not _SID.match(sid):
            return ServerSession()
        try:
            data = self._access(app).session(sid)
        except redis.RedisError:
            return ServerSession(unavailable=True)
        return ServerSession(data, sid=sid) if data is not None else ServerSession()

    def save_session(self, app, session, response):
        if not isinstance(session, ServerSession) or session.unavailable:
            return
        name, domain, path = self.get_cookie_name(app), self.get_cookie_domain(app), self.get_cookie_path(app)
        access = self._access(app)
        if session.sid and (session.rotate_requested or (session.modified and not session)):
            access.end_session(session.sid)
            if not session:
                response.delete_cookie(name, domain=domain, path=path, secure=self.get_cookie_secure(app),
                                       httponly=self.get_cookie_httponly(app),
                                       samesite=self.get_cookie_samesite(app))
                return
            session.sid = None
        if not session.modified or not session:
            return
        data = dict(session)
        if session.sid is None:
            ttl = self.lifetime if data.get("staff") else ANONYMOUS_TTL
            session.sid = access.new_session(data, ttl)
        elif not access.save_session(session.sid, data):
            return  # ended meanwhile (signed out in another tab): it stays ended
        response.set_cookie(name, session.sid, expires=self.get_expiration_time(app, session), domain=domain,
                            path=path, secure=self.get_cookie_secure(app), httponly=self.get_cookie_httponly(app),
                            samesite=self.get_cookie_samesite(app))
        response.vary.add("Cookie")

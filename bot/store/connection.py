"""The one connection to Redis: `connect` for every way a center runs it (one server, Cluster, Sentinel),
the base every aggregate of the store shares (client, clock, key names, Lua scripts), and `Unreachable`,
the store's stand-in while Redis is known to be out of reach (the webhook's pause)."""
from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence
from urllib.parse import parse_qs, unquote, urlsplit

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.commands.core import Script
from redis.exceptions import NoScriptError
from redis.sentinel import Sentinel

from handlers.clock import Clock

log = logging.getLogger(__name__)

PREFIX = "centerbot"
HERE = Path(__file__).resolve().parent

REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster", "redis+sentinel",
                 "rediss+sentinel")
_TIMEOUTS = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0}


def connect(url: str) -> redis.Redis | RedisCluster:
    """A client for `url`, whichever way the center runs Redis:

    redis://[:password@]host:port/db, rediss://…, unix:///path/redis.sock
        one server (TLS with rediss://)
    redis+cluster://[:password@]host:port[,host:port…]   (rediss+cluster:// for TLS)
        a Redis Cluster, found from any of its nodes; every key the app uses together shares a hash tag
    redis+sentinel://[:password@]host:port[,host:port…]/<master name>[/db][?sentinel_password=…]
        the current master of a replicated set, asked of its Sentinels, followed through failovers
        (the password is the master's; Sentinels that require one take `sentinel_password`)
    """
    scheme, _, rest = url.partition("://")
    if scheme not in REDIS_SCHEMES:
        raise ValueError(f"REDIS_URL scheme {scheme!r} is not one of {', '.join(REDIS_SCHEMES)}")
    base, _, topology = scheme.partition("+")
    if not topology:
        return redis.Redis.from_url(url, decode_responses=True, health_check_interval=30, **_TIMEOUTS)
    parts = urlsplit(f"{base}://{rest}")
    password = unquote(parts.password) if parts.password else None
    username = unquote(parts.username) if parts.username else None
    hosts = [_host_port(h, 26379 if topology == "sentinel" else 6379)
             for h in parts.netloc.rpartition("@")[2].split(",") if h]
    if not hosts:
        raise ValueError(f"REDIS_URL {scheme}:// names no host")
    tls = {"ssl": True} if base == "rediss" else {}
    if topology == "cluster":
        return RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in hosts], decode_responses=True,
                            username=username, password=password, **tls, **_TIMEOUTS)
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise ValueError("REDIS_URL redis+sentinel:// needs the master's name: …/<master name>[/db]")
    db = int(path[1]) if len(path) > 1 else 0
    sentinel_password = parse_qs(parts.query).get("sentinel_password", [None])[0]
    sentinel = Sentinel(hosts, sentinel_kwargs={"password": sentinel_password, **tls, **_TIMEOUTS},
                        **tls, **_TIMEOUTS)
    return sentinel.master_for(path[0], db=db, decode_responses=True, username=username, password=password,
                               health_check_interval=30)


def _host_port(text: str, default: int) -> tuple[str, int]:
    host, _, port = text.strip().rpartition(":") if ":" in text else (text.strip(), "", "")
    return host.strip("[]"), int(port) if port else default


@lru_cache(maxsize=None)
def lua(name: str) -> str:
    """The text of a Lua script kept beside the store's modules (bot/store/<name>.lua), read once."""
    return (HERE / f"{name}.lua").read_text(encoding="utf-8")


# A script call for Connection._one_trip: the script, its keys, its arguments.
ScriptCall = tuple[Script, Sequence[str], Sequence[Any]]
# A write that may wait for the message's finishing round trip: it queues its commands on a pipeline.
Write = Callable[[Any], None]


class Connection:
    """What every aggregate of the store shares: the one client, the clock, and the key names."""

    r: redis.Redis
    clock: Clock
    prefix: str
    _later: threading.local  # per thread: the writes put off until the message's finishing round trip

    def _one_trip(self, calls: Sequence[ScriptCall], writes: Sequence[Write] = ()) -> list[Any]:
        """Run Lua scripts, and then writes that need no answer, in one round trip (a pipeline of EVALSHA):
        the scripts' results, in order. On a Cluster, where the keys are on different nodes anyway, each
        is its own call (the writes one pipeline), as is a single script with nothing to go with it. A
        script the server does not have yet (a new or restarted server) is loaded and that call alone
        made again; a write that fails is logged, never in the message's way."""
        if isinstance(self.r, RedisCluster) or (len(calls) == 1 and not writes):  # nothing to put together
            results = [script(keys=list(keys), args=list(args)) for script, keys, args in calls]
            if writes:
                pipe = self.r.pipeline(transaction=False)
                for write in writes:
                    write(pipe)
                self._written(pipe.execute(raise_on_error=False))
            return results
        pipe = self.r.pipeline(transaction=False)
        for script, keys, args in calls:
            pipe.evalsha(script.sha, len(keys), *keys, *args)
        for write in writes:
            write(pipe)
        out = pipe.execute(raise_on_error=False)
        results, written = out[:len(calls)], out[len(calls):]
        for i, ((script, keys, args), result) in enumerate(zip(calls, results)):
            if isinstance(result, NoScriptError):
                results[i] = script(keys=list(keys), args=list(args))
            elif isinstance(result, Exception):
                raise result
        self._written(written)
        return results

    @staticmethod
    def _written(results: list[Any]) -> None:
        failed = [r for r in results if isinstance(r, Exception)]
        if failed:
            log.error("a put-off write failed: %s", type(failed[0]).__name__)

    @contextmanager
    def writes_put_off(self) -> Iterator[None]:
        """While a message is handled, writes that need no answer (the question log) wait for its
        finishing round trip (Messages.finish_message) instead of paying one of their own; what is
        left when the handling ends without one is written then."""
        self._later.writes = []
        try:
            yield
        finally:
            writes, self._later.writes = self._later.writes, None
            if writes:
                self._one_trip([], writes)

    def put_off(self, write: Write) -> bool:
        """Queue a write for the finishing round trip, if one is coming (False: write it now)."""
        writes = getattr(self._later, "writes", None)
        if writes is None:
            return False
        writes.append(write)
        return True

    def _take_put_off(self) -> list[Write]:
        writes = getattr(self._later, "writes", None) or []
        if writes:
            self._later.writes = []
        return writes

    def key(self, tag: str, *parts: str) -> str:
        return ":".join((self.prefix, "{" + tag + "}", *parts))

    def _user(self, openid: str, *parts: str) -> str:
        return self.key(f"u:{openid}", *parts)

    def ping(self) -> bool:
        return bool(self.r.ping())


class Unreachable:
    """Stands in for the store while Redis is known to be out of reach: every operation fails at once,
    as Redis would after its timeout, so a reply given from memory is not held up by a second wait."""

    def __getattr__(self, name: str) -> "Unreachable":
        return self  # store.bookings.of_user(...) fails when called, where callers expect Redis to fail

    def __call__(self, *args, **kwargs):
        raise redis.ConnectionError("the store is out of reach")

    __bool__ = __iter__ = __len__ = __call__

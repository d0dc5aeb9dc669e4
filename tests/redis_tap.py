"""A TCP proxy in front of the test Redis that can stop a client at an exact command.

A process under test connects to Redis through the tap (its REDIS_URL is `tap.url`). `tap.hold(match)`
arms a trap: the first command whose bytes satisfy `match` is not forwarded, and its connection stays
open and silent, so the client waits for an answer that does not come; `trap.hit` is set at that moment.
Nothing before that command is held back and nothing of it reaches Redis, so a test that kills the
client then knows exactly what was stored: everything up to, and nothing from, that command.
"""
from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Trap:
    match: Callable[[bytes], bool]
    hit: threading.Event = field(default_factory=threading.Event)


def command_with(*parts: bytes) -> Callable[[bytes], bool]:
    """A trap's match: a command whose bytes contain every one of `parts` (in RESP, command names and
    keys appear verbatim)."""
    return lambda data: all(part in data for part in parts)


class RedisTap:
    def __init__(self, upstream_url: str):
        if upstream_url.startswith("unix://"):
            self._upstream = (socket.AF_UNIX, upstream_url.removeprefix("unix://").split("?")[0])
        elif upstream_url.startswith("redis://"):
            host, _, port = upstream_url.removeprefix("redis://").split("/")[0].rpartition("@")[2].partition(":")
            self._upstream = (socket.AF_INET, (host, int(port or 6379)))
        else:
            raise ValueError(f"the tap cannot stand in front of {upstream_url}")
        self._trap: Trap | None = None
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self._listener.getsockname()[1]}/0"

    def hold(self, match: Callable[[bytes], bool]) -> Trap:
        """Arm a one-time trap for the next matching command on any connection."""
        trap = Trap(match)
        with self._lock:
            self._trap = trap
        return trap

    def _spring(self, tail: bytes, data: bytes) -> bool:
        with self._lock:
            trap = self._trap
            if trap is None or not trap.match(tail + data) or trap.match(tail):
                return False
            self._trap = None
        trap.hit.set()
        return True

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            family, address = self._upstream
            server = socket.socket(family, socket.SOCK_STREAM)
            try:
                server.connect(address)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, commands: bool) -> None:
        tail = b""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if commands and self._spring(tail, data):
                    # held: the client waits for an answer until it is killed (its socket then closes)
                    while src.recv(65536):
                        pass
                    break
                tail = data[-256:]  # a pattern split across two reads is still seen
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        with self._lock:
            for s in self._sockets:
                try:
                    s.close()
                except OSError:
                    pass

"""A booking survives a crash of the embedded Redis: the server fsyncs its append-only file before it
answers, so a seat it confirmed is still there after kill -9 and a restart."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from bot.embedded_redis import PIDFILE, ensure_server, stop_server
from bot.store import Store, connect


def _gone(pid: int) -> bool:
    """True once the process has exited (a zombie counts: our container's init may not reap it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def test_a_booking_survives_kill_9_of_the_embedded_redis(tmp_path):
    try:
        url, started = ensure_server(tmp_path)
        assert started
        client = connect(url)
        store = Store(client)
        booking = {"resource": "remote-education", "day": "20261126", "date": "2026-11-26", "slot": "0900",
                   "start": "09:00", "end": "12:00", "starts": 1795654800.0, "openid": "o_durable",
                   "name": "张三", "phone": "13800138000", "status": "confirmed", "created": 1795397400.0}
        result = store.bookings.book(resource="remote-education", code_letters="Z", day="20261126", slot="0900",
                                     openid="o_durable", booking=booking, capacity=1, per_day=1,
                                     idempotency="o_durable:m1")
        assert result.outcome == "ok"
        client.close()

        pid = int((tmp_path / PIDFILE).read_text().strip())
        os.kill(pid, signal.SIGKILL)  # no chance to save: only what was fsynced survives
        deadline = time.monotonic() + 10
        while not _gone(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone(pid)

        url, started = ensure_server(tmp_path)
        assert started  # the dead server was noticed and a new one started on the same data
        assert int((tmp_path / PIDFILE).read_text().strip()) != pid
        store = Store(connect(url))
        kept = store.bookings.get(result.code, {"Z": "remote-education"})
        assert kept is not None
        assert kept["code"] == result.code and kept["openid"] == "o_durable" and kept["status"] == "confirmed"
        assert store.bookings.seats_taken("remote-education", "20261126", ["0900"]) == {"0900": 1}
        assert [b["code"] for b in store.bookings.of_user("o_durable", 0)] == [result.code]
        again = store.bookings.book(resource="remote-education", code_letters="Z", day="20261126", slot="0900",
                                    openid="o_other", booking={**booking, "openid": "o_other"}, capacity=1,
                                    per_day=1, idempotency="o_other:m1")
        assert again.outcome == "full"  # the seat is still taken after the crash
        store.r.close()
    finally:
        stop_server(tmp_path)

"""Real concurrency on the booking script: many threads, several processes and concurrent webhook
requests against the real Redis of the session. A seat is never given twice, a retried request books
once, and a person never holds two seats of a day."""
from __future__ import annotations

import multiprocessing
import queue
import threading
from collections import Counter

import requests
from werkzeug.serving import make_server

from bot.peer import WeChatPeer
from bot.store import Store, connect
from tests.conftest import TOKEN

DAY = "20261126"  # Thursday, three working days after the fixed Monday 2026-11-23
STARTS = 1795654800.0  # 2026-11-26 09:00 CST


def booking_for(resource: str, slot: str, openid: str, i: int) -> dict:
    """The fields handlers/booking.py stores with a booking."""
    return {"resource": resource, "day": DAY, "date": "2026-11-26", "slot": slot,
            "start": f"{slot[:2]}:{slot[2:]}", "end": "12:00", "starts": STARTS, "openid": openid,
            "name": f"测试{i}", "phone": f"1380013{i:04d}", "status": "confirmed", "created": 1795400000.0}


def race(url: str, n: int, attempt) -> list:
    """Run `attempt(store, i)` in n threads, each with its own client, released at once; the results."""
    barrier = threading.Barrier(n)
    results: list = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            store = Store(connect(url))
            store.ping()  # connect before the barrier, so the race is on the script, not on sockets
            barrier.wait(timeout=30)
            results[i] = attempt(store, i)
            store.r.close()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert all(not t.is_alive() for t in threads)
    return results


def distinct_people(resource: str, letters: str, slot: str, capacity: int):
    def attempt(store: Store, i: int):
        return store.bookings.book(resource=resource, code_letters=letters, day=DAY, slot=slot,
                                   openid=f"o_{i}", booking=booking_for(resource, slot, f"o_{i}", i),
                                   capacity=capacity, per_day=1, idempotency=f"o_{i}:m{i}")
    return attempt


def test_the_last_seat_goes_to_exactly_one_of_many_threads(redis_url, store):
    results = race(redis_url, 48, distinct_people("remote-education", "Z", "0900", capacity=1))
    outcomes = Counter(r.outcome for r in results)
    assert outcomes == {"ok": 1, "full": 47}
    assert store.bookings.seats_taken("remote-education", DAY, ["0900"]) == {"0900": 1}
    winner = next(r for r in results if r.outcome == "ok")
    assert winner.code == "Z26112601"
    assert store.bookings.get(winner.code, {"Z": "remote-education"})["code"] == winner.code


def test_ten_seats_go_to_exactly_ten_of_sixty_threads(redis_url, store):
    results = race(redis_url, 60, distinct_people("gym", "J", "1500", capacity=10))
    outcomes = Counter(r.outcome for r in results)
    assert outcomes == {"ok": 10, "full": 50}
    assert store.bookings.seats_taken("gym", DAY, ["1500"]) == {"1500": 10}
    codes = {r.code for r in results if r.outcome == "ok"}
    assert len(codes) == 10
    assert len(store.bookings.of_day(DAY)) == 10


def book_in_process(url: str, proc: int, start, out) -> None:
    """One process of the multi-process race: 12 threads booking the gym at 15:00 (capacity 5)."""
    try:
        def attempt(store: Store, i: int):
            n = proc * 100 + i
            return store.bookings.book(resource="gym", code_letters="J", day=DAY, slot="1500",
                                       openid=f"o_{n}", booking=booking_for("gym", "1500", f"o_{n}", n),
                                       capacity=5, per_day=1, idempotency=f"o_{n}:m{n}").outcome

        start.wait(timeout=60)  # every process is up before any thread books
        out.put((proc, race(url, 12, attempt)))
    except BaseException as exc:  # noqa: BLE001 - the parent asserts on it
        out.put((proc, repr(exc)))


def test_several_processes_never_over_book(redis_url, store):
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=book_in_process, args=(redis_url, p, start, out)) for p in range(4)]
    for p in procs:
        p.start()
    try:
        got = [out.get(timeout=90) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    for proc, outcomes in got:
        assert isinstance(outcomes, list), f"process {proc} failed: {outcomes}"
    outcomes = Counter(o for _, per_process in got for o in per_process)
    assert outcomes == {"ok": 5, "full": 43}
    assert store.bookings.seats_taken("gym", DAY, ["1500"]) == {"1500": 5}
    assert all(p.exitcode == 0 for p in procs)


def test_a_retried_request_books_once_even_concurrently(redis_url, store):
    def attempt(s: Store, i: int):
        return s.bookings.book(resource="remote-education", code_letters="Z", day=DAY, slot="0900",
                               openid="o_retry", booking=booking_for("remote-education", "0900", "o_retry", 1),
                               capacity=1, per_day=1, idempotency="o_retry:m1")

    results = race(redis_url, 20, attempt)
    outcomes = Counter(r.outcome for r in results)
    assert outcomes["ok"] == 1 and outcomes["ok"] + outcomes["duplicate"] == 20
    assert len({r.code for r in results}) == 1
    assert store.bookings.seats_taken("remote-education", DAY, ["0900"]) == {"0900": 1}
    assert len(store.bookings.of_day(DAY)) == 1
    assert len(store.bookings.of_user("o_retry", 0)) == 1


def test_one_person_cannot_take_two_seats_of_a_day_concurrently(redis_url, store):
    slots = [f"{h:02d}00" for h in range(8, 18)] * 2  # 20 attempts over 10 slots of the day

    def attempt(s: Store, i: int):
        return s.bookings.book(resource="gym", code_letters="J", day=DAY, slot=slots[i], openid="o_greedy",
                               booking=booking_for("gym", slots[i], "o_greedy", i), capacity=10, per_day=1,
                               idempotency=f"o_greedy:m{i}")

    results = race(redis_url, 20, attempt)
    outcomes = Counter(r.outcome for r in results)
    assert outcomes == {"ok": 1, "daily_limit": 19}
    winner = next(r for r in results if r.outcome == "ok")
    assert {r.code for r in results} == {winner.code}  # the refusals name the booking already held
    assert sum(store.bookings.seats_taken("gym", DAY, sorted(set(slots))).values()) == 1
    assert len(store.bookings.of_user("o_greedy", 0)) == 1


_DIGITS = "零一二三四五六七八九"


def test_concurrent_webhook_requests_never_over_book(app, redis_url, store):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    url = f"http://127.0.0.1:{server.server_port}"
    n = 30
    barrier = threading.Barrier(n)
    replies: queue.Queue = queue.Queue()

    def post(i: int) -> None:
        try:
            peer = WeChatPeer(TOKEN)
            # a name in Chinese characters: the form takes 2-6 of them as a name ("张7" is not one)
            name = "张" + "".join(_DIGITS[int(d)] for d in f"{i:02d}")
            args, body = peer.sign(peer.xml(f"o_web{i}", "text", f"预约 远程教育设备 周四 上午 {name} 1380013{i:04d}"))
            barrier.wait(timeout=30)
            res = requests.post(url + "/wechat", params=args, data=body, timeout=30)
            assert res.status_code == 200, res.text
            replies.put(peer.read_reply(res.text).get("Content", ""))
        except BaseException as exc:  # noqa: BLE001 - asserted below
            replies.put(exc)
            barrier.abort()

    threads = [threading.Thread(target=post, args=(i,)) for i in range(n)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=90)
    finally:
        server.shutdown()
        serving.join(timeout=10)
    got = [replies.get_nowait() for _ in range(replies.qsize())]
    assert len(got) == n
    assert not [r for r in got if isinstance(r, BaseException)], got
    booked = [r for r in got if "预约成功" in r]
    full = [r for r in got if "已约满" in r]
    assert len(booked) == 1, got
    assert len(full) == n - 1, got
    assert store.bookings.seats_taken("remote-education", DAY, ["0900"]) == {"0900": 1}
    assert len(store.bookings.of_day(DAY)) == 1

"""Booking throughput on one hot slot: every client books the same resource, day and slot through
`BookingStore.book` (the atomic Lua script plus the index pipeline), against a private redis-server
started like the tests' (`temporary_server` of bot/embedded_redis.py): the rows of its section of
BENCHMARKS.md (`python -m bench`).
"""
from __future__ import annotations

import multiprocessing
import statistics
import threading
import time

from bot.embedded_redis import temporary_server
from bot.store import Store, connect

ATTEMPTS = 4000  # per row
HUGE = 10**9  # capacity when every attempt should take a seat
DAY = "20261126"
RESOURCE, LETTERS, SLOT = "gym", "J", "1500"


def private_server(fsync: str = "always"):
    """A throw-away redis-server on a unix socket; `fsync` replaces the embedded server's `always`."""
    return temporary_server(fsync)


def _booking(openid: str, n: int) -> dict:
    """The fields handlers/booking.py stores with a booking."""
    return {"resource": RESOURCE, "day": DAY, "date": "2026-11-26", "slot": SLOT, "start": "15:00",
            "end": "16:00", "starts": 1795676400.0, "openid": openid, "name": "张三",
            "phone": f"138{n:08d}", "status": "confirmed", "created": 1795397400.0}


def _client_loop(url: str, tag: str, attempts: int, capacity: int, start, results: list) -> None:
    """One client: connect, wait for the start, then book `attempts` times with distinct people."""
    store = Store(connect(url))
    store.ping()
    latencies, outcomes = [], []
    start.wait(timeout=120)
    for k in range(attempts):
        openid = f"o_{tag}_{k}"
        t = time.perf_counter()
        r = store.bookings.book(resource=RESOURCE, code_letters=LETTERS, day=DAY, slot=SLOT, openid=openid,
                                booking=_booking(openid, k), capacity=capacity, per_day=1,
                                idempotency=f"{openid}:m{k}")
        latencies.append((time.perf_counter() - t) * 1000)
        outcomes.append(r.outcome)
    store.r.close()
    results.append((latencies, outcomes))


def _threads(url: str, tag: str, threads: int, per_thread: int, capacity: int, start) -> list:
    results: list = []
    workers = [threading.Thread(target=_client_loop, args=(url, f"{tag}t{i}", per_thread, capacity, start, results))
               for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if len(results) != threads:
        raise RuntimeError(f"{threads - len(results)} client thread(s) failed")
    return results


def _process_worker(url: str, proc: int, threads: int, per_thread: int, capacity: int, start, out) -> None:
    """One process of a multi-process row (module level, for the spawn start method)."""
    try:
        out.put(_threads(url, f"p{proc}", threads, per_thread, capacity, start))
    except BaseException as exc:  # noqa: BLE001 - the parent raises it
        out.put(repr(exc))


def _row(url: str, processes: int, threads: int, capacity: int) -> dict:
    """Run one configuration; time from the common start until the last client is done."""
    client = connect(url)
    client.flushall()
    clients = max(processes, 1) * threads
    per_thread = ATTEMPTS // clients
    if processes == 0:
        start = threading.Barrier(threads + 1)
        results: list = []
        runner = threading.Thread(target=lambda: results.extend(
            _threads(url, "t", threads, per_thread, capacity, start)))
        runner.start()
        start.wait(timeout=120)
        t0 = time.perf_counter()
        runner.join()
        elapsed = time.perf_counter() - t0
    else:
        ctx = multiprocessing.get_context("spawn")
        start, out = ctx.Barrier(clients + 1), ctx.Queue()
        procs = [ctx.Process(target=_process_worker, args=(url, p, threads, per_thread, capacity, start, out))
                 for p in range(processes)]
        for p in procs:
            p.start()
        start.wait(timeout=120)
        t0 = time.perf_counter()
        results = []
        for _ in procs:
            got = out.get(timeout=600)
            if isinstance(got, str):
                raise RuntimeError(f"a bench process failed: {got}")
            results.extend(got)
        elapsed = time.perf_counter() - t0
        for p in procs:
            p.join(timeout=30)
    latencies = sorted(x for lat, _ in results for x in lat)
    outcomes = [o for _, out_ in results for o in out_]
    booked = outcomes.count("ok")
    taken = Store(client).bookings.seats_taken(RESOURCE, DAY, [SLOT])[SLOT]
    client.close()
    if taken != booked or booked != min(capacity, len(outcomes)):
        raise RuntimeError(f"over- or under-booking: {booked} ok, {taken} seats taken, capacity {capacity}")
    return {"clients": clients, "attempts": len(outcomes), "booked": booked, "elapsed": elapsed,
            "rate": len(outcomes) / elapsed, "p50": statistics.median(latencies),
            "p99": latencies[int(len(latencies) * 0.99) - 1]}


def _warm_up(url: str) -> None:
    """Load the scripts into the server so the first timed call does not pay for it."""
    store = Store(connect(url))
    store.bookings.book(resource="warm-up", code_letters="W", day=DAY, slot=SLOT, openid="o_warm",
                        booking=_booking("o_warm", 0), capacity=1, per_day=1, idempotency="o_warm:m0")
    store.r.flushall()
    store.r.close()


def run() -> list[str]:
    rows = [  # label, appendfsync, processes (0: threads of this process), threads, capacity
        ("1 thread", "always", 0, 1, HUGE),
        ("8 threads", "always", 0, 8, HUGE),
        ("32 threads", "always", 0, 32, HUGE),
        ("4 processes × 8 threads", "always", 4, 8, HUGE),
        ("contended: 32 threads, capacity 1", "always", 0, 32, 1),
        ("1 thread, fsync off (for comparison)", "no", 0, 1, HUGE),
        ("32 threads, fsync off (for comparison)", "no", 0, 32, HUGE),
    ]
    lines = ["| run | appendfsync | clients | attempts | seats taken | elapsed s | attempts/s | bookings/s | "
             "p50 ms | p99 ms |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for fsync in ("always", "no"):
        with private_server(fsync) as url:
            _warm_up(url)
            for label, mode, processes, threads, capacity in rows:
                if mode != fsync:
                    continue
                r = _row(url, processes, threads, capacity)
                won = f"{r['booked']} (exactly 1 won)" if capacity == 1 else str(r["booked"])
                per_s = "—" if capacity == 1 else f"{r['booked'] / r['elapsed']:,.0f}"
                lines.append(f"| {label} | {fsync} | {r['clients']} | {r['attempts']:,} | {won} | "
                             f"{r['elapsed']:.2f} | {r['rate']:,.0f} | {per_s} | "
                             f"{r['p50']:.2f} | {r['p99']:.2f} |")
                print(lines[-1], flush=True)
    return lines

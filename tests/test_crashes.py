"""kill -9 at awkward moments (issue 7, "whole under faults"): the worker in the middle of a job or of a
WeChat API request, and the web app in the middle of citizens' conversations. Nothing the center
confirmed is lost or duplicated, and reminders and escalations reach WeChat exactly once.

The worker and the web app run as real processes (`python -m bot.cli worker`, and the Procfile's
gunicorn command) on the real Redis of the session, the worker against the WeChat API stand-in. To kill
at an exact point rather than at a lucky moment, the stand-in can hold a send (tests/standin.py) and a
tap in front of Redis can hold the worker at a chosen command (tests/redis_tap.py).
"""
from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from bot.embedded_redis import temporary_server
from bot.peer import WeChatPeer
from bot.store import CLAIM_LEASE, JOB_LEASE, JOB_MAX_ATTEMPTS, Store
from bot.store.calendar import CalendarStore
from bot.worker import SEPARATOR, run_job, run_jobs
from handlers import records
from handlers.clock import Clock
from handlers.context import Context
from handlers.slots import Rules
from tests.conftest import TOKEN
from tests.redis_tap import RedisTap, command_with

LEASE = 2  # CENTERBOT_WORKER_LEASE of the processes under test: a dead worker's jobs come back soon
SEND = "/cgi-bin/message/custom/send"
ROOT = Path(__file__).resolve().parent.parent


# -- processes ------------------------------------------------------------------------------------------
class Processes:
    """Processes a test starts; each is killed by its own id (a group it leads, for gunicorn) at the end."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.started: list[tuple[subprocess.Popen, bool, Path]] = []

    def start(self, args: list[str], env: dict[str, str], name: str, group: bool = False) -> subprocess.Popen:
        log = self.logs / f"{name}-{len(self.started)}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                    start_new_session=group)
        proc.log = log
        self.started.append((proc, group, log))
        return proc

    @staticmethod
    def kill(proc: subprocess.Popen, group: bool = False) -> None:
        """kill -9: no clean-up, no atexit, like a crash or an OOM kill."""
        if proc.poll() is None:
            if group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc, group, _ in self.started:
            try:
                self.kill(proc, group)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass


@pytest.fixture()
def processes(tmp_path):
    procs = Processes(tmp_path)
    yield procs
    procs.stop_all()


def wait_until(condition, what: str, timeout: float = 20.0, alive: tuple = ()):
    """Poll `condition` until it returns something truthy; fail with `what` (and the logs of any process
    in `alive` that died) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        for proc in alive:
            if proc.poll() is not None:
                pytest.fail(f"{what}: process exited with {proc.returncode}\n{proc.log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            logs = "\n".join(p.log.read_text()[-2000:] for p in alive)
            pytest.fail(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def redis_url(redis_url):
    """The tap below stands in front of one server; on a Cluster or under Sentinel (make test-cluster,
    test-sentinel) these crash tests get a private single server instead."""
    if "+" not in redis_url.partition("://")[0]:
        yield redis_url
        return
    with temporary_server(fsync="no") as url:
        yield url


# -- the worker -----------------------------------------------------------------------------------------
@pytest.fixture()
def live(redis_client, kb):
    """A store and context on the real clock (the worker under test runs on it too), with the staff."""
    store = Store(redis_client, Clock())
    store.add_staff("王芳", "o_wang", role="window")
    store.add_staff("李强", "o_li", role="window", backup="王芳")
    store.add_staff("张书记", "o_leader", role="leader")
    # on the real clock in November or December the worker reminds the leaders to import next year's
    # holiday notice: count it as done, so the worker sends only what each test is about
    CalendarStore(store).once(f"remind:{Clock().today().year + 1}")
    return Context.build(kb, store, Clock(), "https://bot.example.cn")


@pytest.fixture()
def tap(redis_url):
    tap = RedisTap(redis_url)
    yield tap
    tap.close()


@pytest.fixture()
def start_worker(processes, tap, standin, tmp_path):
    env = {**os.environ, "REDIS_URL": tap.url, "WECHAT_TOKEN": TOKEN, "WECHAT_APP_ID": "wxcrash",
           "WECHAT_APP_SECRET": "s3cret", "WECHAT_API_BASE": standin.base, "CENTERBOT_ENV": "development",
           "CENTERBOT_DATA_DIR": str(tmp_path), "CENTERBOT_SEMANTIC": "off", "CENTERBOT_WORKER_LEASE": str(LEASE)}
    return lambda: processes.start([sys.executable, "-m", "bot.cli", "worker"], env, "worker")


def received(standin, openid: str, words: str) -> list[str]:
    return [m["text"]["content"] for m in standin.accepted() if m["touser"] == openid and words in m["text"]["content"]]


def settled(store: Store, job: dict, *msg_ids: str) -> bool:
    """The job is acknowledged (neither due nor in flight) and its messages are sent."""
    pending = [j for which in ("due", "inflight") for j, _ in store.jobs(which)]
    items = store.outbox_items(list(msg_ids))
    return job not in pending and len(items) == len(msg_ids) and all(i.status == "sent" for i in items)


def overdue_complaint(ctx: Context) -> tuple[str, dict]:
    """A complaint whose due time has come: its red job is due now."""
    record, _ = records.create(ctx, "complaint", "o_cit", "窗口工作人员态度太差了", "张三", "13800138000", "o_cit:m1")
    job = {"kind": "record_red", "no": record["no"], "due": record["due"]}
    ctx.store.schedule(job, time.time())
    return record["no"], job


# Where the worker is killed in a red escalation: the command it is stopped at never reaches Redis.
KILL_POINTS = {
    "before the record changes": lambda no: command_with(b"RPUSH", f"{{rec}}:h:{no}".encode()),
    "between the record change and its messages": lambda no: command_with(f"{{outbox}}:msg:rec:{no}:red:".encode()),
    "before the job is acknowledged": lambda no: command_with(b"ZREM", b"{sched}:inflight"),
}


@pytest.mark.parametrize("point", KILL_POINTS)
def test_an_escalation_fires_once_when_the_worker_is_killed_mid_job(live, tap, standin, start_worker, point):
    no, job = overdue_complaint(live)
    trap = tap.hold(KILL_POINTS[point](no))
    first = start_worker()
    wait_until(trap.hit.is_set, f"the worker to reach the point {point!r}", alive=(first,))
    Processes.kill(first)
    second = start_worker()  # takes the job again when the first one's lease runs out
    red = f"rec:{no}:red:{job['due']}"
    wait_until(lambda: settled(live.store, job, f"{red}:o_li", f"rec:{no}:escalate:{job['due']}:o_leader"),
               "the escalation to be done and sent", alive=(second,))
    assert [e["action"] for e in live.store.records.history(no)].count("红牌超期") == 1
    assert len(received(standin, "o_li", "红牌超期")) == 1
    assert len(received(standin, "o_leader", "红牌超期")) == 1
    assert live.store.jobs("failed") == []


def test_a_takeover_by_the_b_post_happens_once_when_the_worker_is_killed_before_the_hand_off(
        live, tap, standin, start_worker):
    record, _ = records.create(live, "complaint", "o_cit", "办事推来推去", "张三", "13800138000", "o_cit:m2")
    no = record["no"]
    job = {"kind": "record_takeover", "no": no}
    live.store.schedule(job, time.time())  # 李强 (A) did not take it in time
    trap = tap.hold(command_with(f"{{outbox}}:msg:rec:{no}:handoff:王芳".encode()))
    first = start_worker()
    wait_until(trap.hit.is_set, "the worker to queue the hand-off", alive=(first,))
    Processes.kill(first)
    second = start_worker()
    wait_until(lambda: settled(live.store, job, f"rec:{no}:handoff:王芳:o_wang"), "the takeover to be sent",
               alive=(second,))
    assert live.store.records.get(no)["responder"] == "王芳"
    assert [e["action"] for e in live.store.records.history(no)].count("转B岗") == 1
    assert len(received(standin, "o_wang", no)) == 1


def book_in_two_hours(ctx: Context, openid: str) -> tuple[str, dict]:
    """A gym booking starting in two hours, so its reminder is due now; the citizen wrote recently."""
    now = ctx.clock.now()
    starts = now + dt.timedelta(hours=2)
    booking = {"resource": "gym", "day": starts.strftime("%Y%m%d"), "date": starts.date().isoformat(),
               "slot": f"{starts:%H%M}", "start": f"{starts:%H:%M}", "end": f"{starts + dt.timedelta(hours=1):%H:%M}",
               "starts": starts.timestamp(), "openid": openid, "name": "张三", "phone": "13800138000",
               "status": "confirmed", "created": now.timestamp()}
    result = ctx.store.bookings.book("gym", "J", booking["day"], booking["slot"], openid, booking, capacity=10,
                                     per_day=1, idempotency=f"{openid}:m1")
    assert result.outcome == "ok"
    ctx.store.save_session(openid, {})  # inside WeChat's 48-hour window: a customer-service message
    job = {"kind": "booking_reminder", "code": result.code, "resource": "gym"}
    ctx.store.schedule(job, now.timestamp())
    return result.code, job


def test_a_reminder_fires_once_when_the_worker_is_killed_mid_request(live, standin, start_worker):
    code, job = book_in_two_hours(live, "o_rem")
    hold = standin.hold_next(SEND)  # WeChat does not answer: the worker is mid-request
    first = start_worker()
    wait_until(hold.arrived.is_set, "the worker to call WeChat", alive=(first,))
    Processes.kill(first)
    hold.release.set()  # the request died with the worker; WeChat never processed it
    second = start_worker()
    wait_until(lambda: settled(live.store, job, f"job:booking_reminder:{code}"), "the reminder to be sent",
               alive=(second,))
    reminders = received(standin, "o_rem", "温馨提醒")
    assert len(reminders) == 1 and code in reminders[0]


def test_a_message_wechat_took_just_before_the_worker_was_killed_is_sent_again_once(
        live, standin, start_worker):
    # WeChat's send API has no idempotency key: a worker killed after WeChat took a message but before
    # it noted that in Redis cannot know, and the message goes out again after the lease (docs/deploy.md).
    code, job = book_in_two_hours(live, "o_twice")
    hold = standin.hold_next(SEND, accept=True)  # WeChat took it; the answer is late
    first = start_worker()
    wait_until(hold.arrived.is_set, "the worker to call WeChat", alive=(first,))
    Processes.kill(first)
    hold.release.set()
    second = start_worker()
    wait_until(lambda: settled(live.store, job, f"job:booking_reminder:{code}"), "the resend", alive=(second,))
    assert len(received(standin, "o_twice", "温馨提醒")) == 2  # once more, and no more: it is marked sent


# -- the same, in-process on the fixed clock: each job kind, run twice, has its effects once -----------------
@pytest.fixture()
def staff(store):
    store.add_staff("王芳", "o_wang", role="window")
    store.add_staff("李强", "o_li", role="window", backup="王芳")
    store.add_staff("张书记", "o_leader", role="leader")


def effects(store: Store, no: str) -> tuple:
    return (store.records.history(no), store.records.get(no)["responder"],
            sorted((i.openid, i.payload["content"]) for who in ("o_li", "o_wang", "o_leader", "o_cit")
                   for i in store.outbox_for_user(who)))


@pytest.mark.parametrize("kind", ["record_takeover", "record_yellow", "record_red"])
def test_every_record_job_run_a_second_time_changes_nothing(ctx, store, staff, kind):
    record, _ = records.create(ctx, "complaint", "o_cit", "窗口工作人员态度太差了", "张三", "13800138000", "k1")
    job = {"kind": kind, "no": record["no"]} if kind == "record_takeover" else \
        {"kind": kind, "no": record["no"], "due": record["due"]}
    before = effects(store, record["no"])
    assert run_job(ctx, job) is True
    after_once = effects(store, record["no"])
    assert after_once != before
    assert run_job(ctx, job) is False  # a worker that died before acknowledging it: the job runs again
    assert effects(store, record["no"]) == after_once


def test_a_booking_reminder_run_a_second_time_is_not_queued_again(chat, ctx, store):
    from tests.test_booking import ONE_SHOT, code_of

    code = code_of(chat.send(ONE_SHOT, user="o_rem2"))
    job = {"kind": "booking_reminder", "code": code, "resource": "gym"}
    run_job(ctx, job)
    run_job(ctx, job)
    assert [i.payload["content"][:4] for i in store.outbox_for_user("o_rem2")] == ["温馨提醒"]


def test_a_job_taken_by_a_worker_that_died_runs_after_its_lease_once(ctx, store, staff, clock):
    record, _ = records.create(ctx, "complaint", "o_cit", "窗口工作人员态度太差了", "张三", "13800138000", "k2")
    job = {"kind": "record_red", "no": record["no"], "due": record["due"]}
    store.schedule(job, clock.timestamp())
    assert [j for j, _ in store.take_due_jobs()] == [job]  # a worker took it, then was killed
    assert run_jobs(ctx) == 0  # leased: not another worker's yet
    clock.advance(seconds=JOB_LEASE + 1)
    assert run_jobs(ctx) == 1
    assert run_jobs(ctx) == 0
    clock.advance(seconds=JOB_LEASE + 1)
    assert run_jobs(ctx) == 0  # acknowledged: not taken again
    assert [e["action"] for e in store.records.history(record["no"])].count("红牌超期") == 1


def test_a_job_that_keeps_failing_is_set_aside_after_its_attempts(ctx, store, clock):
    broken = {"kind": "record_red", "due": 0}  # no record number: it raises every time
    store.schedule(broken, clock.timestamp())
    for _ in range(JOB_MAX_ATTEMPTS + 1):
        run_jobs(ctx)
        clock.advance(seconds=JOB_LEASE + 1)
    assert [j for j, _ in store.jobs("failed")] == [broken]
    assert store.jobs("due") == [] and store.jobs("inflight") == []


def test_a_retried_booking_whose_first_delivery_died_holding_the_last_seat_is_confirmed(
        chat, store, clock, monkeypatch):
    from bot import webhook
    from tests.test_booking import ONE_SHOT  # 健身房, 11月24日 15:00 (capacity 10)

    def gym_booking(openid: str) -> dict:
        return {"resource": "gym", "day": "20261124", "date": "2026-11-24", "slot": "1500", "start": "15:00",
                "end": "16:00", "starts": 1795503600.0, "openid": openid, "name": "张三", "phone": "13800138000",
                "status": "confirmed", "created": clock.timestamp()}

    # what the first delivery stored before its process was killed: its claim, then its seat (the last one)
    assert store.claim_message("o_late", "m555").state == "new"
    for i in range(9):
        store.bookings.book("gym", "J", "20261124", "1500", f"o_{i}", gym_booking(f"o_{i}"), 10, 1, f"o_{i}:m1")
    seat = store.bookings.book("gym", "J", "20261124", "1500", "o_late", gym_booking("o_late"), 10, 1, "o_late:m555")
    xml = chat.peer.xml("o_late", "text", ONE_SHOT, msg_id=555)
    monkeypatch.setattr(webhook, "RETRY_WAIT", 0.1)
    assert chat.peer.read_reply(chat.post(xml).get_data(as_text=True)) == {}  # still its claim: wait
    clock.advance(seconds=CLAIM_LEASE + 1)
    reply = chat.peer.read_reply(chat.post(xml).get_data(as_text=True))["Content"]
    assert "预约成功" in reply and seat.code in reply  # not "full": the last seat is this message's
    assert store.bookings.seats_taken("gym", "20261124", ["1500"]) == {"1500": 10}
    assert [b["code"] for b in store.bookings.of_user("o_late", 0)] == [seat.code]
    assert [j for j, _ in store.jobs("due")] == [{"kind": "booking_reminder", "code": seat.code, "resource": "gym"},
                                                 {"kind": "booking_rating", "code": seat.code, "resource": "gym"}]


# -- the web app ----------------------------------------------------------------------------------------
class Citizen(threading.Thread):
    """Plays WeChat for one citizen: sends the script's messages in turn, each with its own MsgId; when
    the app does not answer (killed), waits for it to come back and retries the same message (same
    MsgId) until it is answered, as WeChat does."""

    def __init__(self, app: "WebApp", openid: str, script: list[str]):
        super().__init__(daemon=True)
        self.app, self.openid, self.script = app, openid, script
        self.replies: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with requests.Session() as http:
                for text in self.script:
                    self.replies.append(self.deliver(http, text, next(self.app.msg_ids)))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def deliver(self, http: requests.Session, text: str, msg_id: int) -> str:
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            url = self.app.url
            args, body = self.app.peer.sign(self.app.peer.xml(self.openid, "text", text, msg_id=msg_id))
            try:
                res = http.post(url + "/wechat", params=args, data=body, timeout=15,
                                headers={"Content-Type": "text/xml"})
            except requests.RequestException:
                self.app.back.wait(30)  # the app is down: WeChat retries the same message later
                continue
            assert res.status_code == 200, res.text
            reply = self.app.peer.read_reply(res.text).get("Content", "")
            if reply:
                self.app.answered()
                return reply
            time.sleep(0.3)  # still "being handled" by the dead process: retry until its claim runs out
        raise AssertionError(f"{self.openid}: {text!r} was never answered")


class WebApp:
    """The Procfile's web command, started and killed as a process group."""

    def __init__(self, processes: Processes, env: dict[str, str]):
        self.processes, self.env = processes, env
        self.peer = WeChatPeer(TOKEN)
        self.msg_ids = iter(range(7_000_000, 8_000_000))
        self.url = ""
        self.back = threading.Event()
        self.count, self._lock, self.enough = 0, threading.Lock(), threading.Event()
        self.kill_after = 0
        web = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
        self.command = "exec " + web.removeprefix("web:").strip().replace("0.0.0.0", "127.0.0.1")

    def answered(self) -> None:
        with self._lock:
            self.count += 1
            if self.count >= self.kill_after:
                self.enough.set()

    def start(self) -> subprocess.Popen:
        proc = self.processes.start(["sh", "-c", self.command], self.env, "web", group=True)
        port = wait_until(lambda: (re.findall(r"Listening at: http://127\.0\.0\.1:(\d+)", proc.log.read_text())
                                   or [None])[0], "gunicorn to listen", timeout=60, alive=(proc,))
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _healthy(url), "the web workers to be ready", timeout=90, alive=(proc,))
        self.url = url
        self.back.set()
        return proc

    def kill(self, proc: subprocess.Popen) -> None:
        self.back.clear()
        Processes.kill(proc, group=True)


def _healthy(url: str) -> bool:
    try:
        return requests.get(url + "/healthz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def bookable_gym_slot(kb) -> tuple[dt.date, str]:
    """A gym slot bookable today by the real clock, two days or more ahead (no notice rule is near)."""
    from knowledge.calendar import WorkCalendar

    now = Clock().now()
    rules = Rules(kb.resources["gym"], WorkCalendar(kb.center), kb.center.hours)
    day = next(d for d in rules.next_days(now, limit=14) if d >= now.date() + dt.timedelta(days=2))
    slot = next(s for s in rules.slots(day) if rules.bookable(s, now))
    return day, slot.key


def test_the_web_app_killed_mid_conversation_loses_and_duplicates_no_booking_or_record(
        redis_url, redis_client, kb, processes, tmp_path):
    store = Store(redis_client, Clock())
    store.add_staff("王芳", "o_wang", role="window")
    store.add_staff("李强", "o_li", role="window", backup="王芳")
    store.add_staff("张书记", "o_leader", role="leader")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PORT": "0", "WEB_CONCURRENCY": "2", "REDIS_URL": redis_url, "WECHAT_TOKEN": TOKEN,
           "CENTERBOT_ENV": "development", "CENTERBOT_DATA_DIR": str(tmp_path), "CENTERBOT_SEMANTIC": "off"}
    for name in ("WECHAT_ENCODING_AES_KEY", "WECHAT_APP_ID", "WECHAT_APP_SECRET"):
        env.pop(name, None)
    app = WebApp(processes, env)
    day, slot = bookable_gym_slot(kb)
    capacity = kb.resources["gym"].capacity
    when = f"{day.month}月{day.day}日 {slot[:2]}:{slot[2:]}"
    bookers = [Citizen(app, f"o_book{i}", ["预约健身房", f"{when} 张三 138{i:08d}"]) for i in range(capacity + 2)]
    complainers = [Citizen(app, f"o_comp{i}", [f"窗口工作人员态度太差了，第{i}号窗口", "李四", f"139{i:08d}"])
                   for i in range(6)]
    citizens = bookers + complainers
    app.kill_after = sum(len(c.script) for c in citizens) // 3

    first = app.start()
    for c in citizens:
        c.start()
    assert app.enough.wait(60), "the citizens' first messages were not answered"
    app.kill(first)  # kill -9 of the master and its workers, mid-conversation
    app.start()
    for c in citizens:
        c.join(timeout=90)
    assert not [c for c in citizens if c.is_alive()], "a conversation did not finish"
    assert [c.error for c in citizens if c.error] == []

    # every booking the app confirmed exists exactly once; none is hidden, none is lost, none doubled
    codes = {c.openid: m[1] for c in bookers if (m := re.search(r"预约编号：([A-Z]+\d{8,})", c.replies[-1]))}
    refused = [c.openid for c in bookers if c.openid not in codes]
    assert all("约满" in c.replies[-1] or "已满" in c.replies[-1] for c in bookers if c.openid in refused), \
        [c.replies[-1] for c in bookers if c.openid in refused]
    assert len(codes) == capacity and len(set(codes.values())) == capacity, codes
    ymd = day.strftime("%Y%m%d")
    stored = store.r.hgetall(store.key(f"bk:gym:{ymd}", "bookings"))
    assert sorted(stored) == sorted(codes.values())  # no booking nobody was told of
    assert store.bookings.seats_taken("gym", ymd, [slot]) == {slot: capacity}
    assert sorted(b["code"] for b in store.bookings.of_day(ymd)) == sorted(codes.values())
    for openid, code in codes.items():
        assert [b["code"] for b in store.bookings.of_user(openid, 0)] == [code]
    told = [i.payload["content"] for i in store.outbox_for_user("o_wang")]
    for code in codes.values():
        assert sum(code in t and "新预约" in t for t in told) == 1  # the staff are told once
    reminders = [j["code"] for j, _ in store.jobs("due") if j["kind"] == "booking_reminder"]
    assert sorted(reminders) == sorted(codes.values())

    # every record the app confirmed exists once, with a unique number, handed off and scheduled once
    numbers = {c.openid: re.search(r"编号：([A-Z]{2}\d{8}-\d{4,})", c.replies[-1])[1] for c in complainers}
    assert len(set(numbers.values())) == len(complainers)
    for openid, no in numbers.items():
        assert [r["no"] for r in store.records.of_user(openid)] == [no]
        assert [e["action"] for e in store.records.history(no)] == ["登记"]
        assert sum(no in i.payload["content"] for i in store.outbox_for_user("o_li")) == 1
    assert sorted(store.records.numbers_between(0, time.time() + 1)) == sorted(numbers.values())
    red = sorted(j["no"] for j, _ in store.jobs("due") if j["kind"] == "record_red")
    assert red == sorted(numbers.values())


# -- a web process killed while it handles a message: WeChat's retry takes it over ----------------------
def _socket_owner(pids: list[int], server_port: int, client_port: int) -> int | None:
    """Which of `pids` holds the server side of the TCP connection from `client_port` (Linux /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as fh:
            for line in fh.readlines()[1:]:
                cols = line.split()
                local, remote = int(cols[1].rsplit(":", 1)[1], 16), int(cols[2].rsplit(":", 1)[1], 16)
                if local == server_port and remote == client_port:
                    inodes.add(f"socket:[{cols[9]}]")
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                    return pid
            except OSError:
                continue
    return None


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as fh:
        return [int(p) for p in fh.read().split()]


def test_a_message_whose_web_process_is_killed_mid_request_is_answered_once_by_wechats_retry(
        redis_url, redis_client, kb, processes, tap, tmp_path):
    import http.client

    store = Store(redis_client, Clock())
    store.add_staff("王芳", "o_wang", role="window")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PORT": "0", "WEB_CONCURRENCY": "2", "REDIS_URL": tap.url, "WECHAT_TOKEN": TOKEN,
           "CENTERBOT_ENV": "development", "CENTERBOT_DATA_DIR": str(tmp_path), "CENTERBOT_SEMANTIC": "off"}
    for name in ("WECHAT_ENCODING_AES_KEY", "WECHAT_APP_ID", "WECHAT_APP_SECRET"):
        env.pop(name, None)
    app = WebApp(processes, env)
    master = app.start()
    wait_until(lambda: len(_children(master.pid)) == 2 and all(_healthy(app.url) for _ in range(2)),
               "both web workers to be ready", timeout=120, alive=(master,))
    day, slot = bookable_gym_slot(kb)
    text = f"预约 健身房 {day.month}月{day.day}日 {slot[:2]}:{slot[2:]} 张三 13800138000"
    msg_id = 9_100_001
    args, body = app.peer.sign(app.peer.xml("o_kill", "text", text, msg_id=msg_id))
    query = "&".join(f"{k}={v}" for k, v in args.items())
    # the first delivery is held when it stores its answer (the booking is made, the message not finished)
    trap = tap.hold(command_with(f"{{u:o_kill}}:seen:m{msg_id}".encode(), b'"done"'))
    port = int(app.url.rsplit(":", 1)[1])
    first = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    first.connect()
    client_port = first.sock.getsockname()[1]
    sent = time.monotonic()
    first.request("POST", "/wechat?" + query, body=body, headers={"Content-Type": "text/xml"})
    wait_until(trap.hit.is_set, "the first delivery to store its answer", timeout=60, alive=(master,))
    victim = _socket_owner(_children(master.pid), port, client_port)
    assert victim, "no web worker holds the first delivery"
    os.kill(victim, signal.SIGKILL)  # kill -9 of the web process mid-request
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        first.getresponse().read()  # WeChat's first delivery gets nothing back
    first.close()

    # WeChat retries the same request (same signature, same body) 5 s after the first, then once more
    passive = []
    for attempt in (2, 3):
        time.sleep(max(0.0, sent + 5 * (attempt - 1) - time.monotonic()))
        try:
            res = requests.post(app.url + "/wechat?" + query, data=body, timeout=60,
                                headers={"Content-Type": "text/xml"})
        except requests.RequestException:
            continue
        assert res.status_code == 200, res.text
        passive.append(app.peer.read_reply(res.text).get("Content", ""))
        break
    if not any(passive):  # `success`: then the answer must be on its way as a customer-service message
        wait_until(lambda: store.outbox_for_user("o_kill"), "the answer of a retry that said `success`",
                   timeout=60, alive=(master,))
    late = [i.payload["content"] for i in store.outbox_for_user("o_kill")]
    answers = [t for t in passive + late if "预约成功" in t]
    assert len(answers) == 1, (passive, late)  # answered, and once
    code = re.search(r"预约编号：([A-Z]+\d{8,})", answers[0])[1]
    ymd = day.strftime("%Y%m%d")
    assert [b["code"] for b in store.bookings.of_day(ymd)] == [code]  # booked once
    assert store.bookings.seats_taken("gym", ymd, [slot]) == {slot: 1}
    told = [i.payload["content"] for i in store.outbox_for_user("o_wang")]
    assert sum(code in t and "新预约" in t for t in told) == 1  # the staff are told once


# -- `centerbot run` keeps its children alive ------------------------------------------------------------
def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _child(parent: int, words: str) -> int | None:
    return next((pid for pid in _children(parent) if words in _cmdline(pid)), None)


def test_centerbot_run_restarts_its_worker_killed_mid_send_and_nothing_is_lost_or_sent_twice(
        redis_url, redis_client, processes, standin, tmp_path):
    import socket

    store = Store(redis_client, Clock())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "REDIS_URL": redis_url, "WECHAT_TOKEN": TOKEN, "WECHAT_APP_ID": "wxrun",
           "WECHAT_APP_SECRET": "s3cret", "WECHAT_API_BASE": standin.base, "CENTERBOT_ENV": "development",
           "CENTERBOT_DATA_DIR": str(tmp_path), "CENTERBOT_SEMANTIC": "off", "CENTERBOT_WORKER_LEASE": str(LEASE)}
    run = processes.start([sys.executable, "-m", "bot.cli", "run", "--port", str(port), "--workers", "1"],
                          env, "run", group=True)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _healthy(url), "centerbot run to serve", timeout=120, alive=(run,))
    gunicorn = _child(run.pid, "gunicorn")
    worker = wait_until(lambda: _child(run.pid, "bot.cli worker"), "the worker to start", alive=(run,))

    hold = standin.hold_next(SEND)  # WeChat does not answer: the worker is mid-request
    store.save_session("o_sup", {})  # the citizen wrote just now: customer-service messages are allowed
    ids = [store.enqueue("o_sup", "text", {"content": f"第{i}条通知"}, dedup=f"sup:{i}") for i in range(3)]
    wait_until(hold.arrived.is_set, "the worker to call WeChat", alive=(run,))
    os.kill(worker, signal.SIGKILL)
    hold.release.set()  # the request died with the worker; WeChat never took it
    restarted = wait_until(lambda: (pid := _child(run.pid, "bot.cli worker")) not in (None, worker) and pid,
                           "the worker to be restarted", timeout=60, alive=(run,))
    wait_until(lambda: all(i.status == "sent" for i in store.outbox_items(ids)), "every message to be sent",
               timeout=60, alive=(run,))
    sent = [m["text"]["content"] for m in standin.accepted() if m["touser"] == "o_sup"]
    # each once (the worker merges a citizen's due texts into one message): nothing lost, nothing sent twice
    assert sorted(part for text in sent for part in text.split(SEPARATOR)) == [f"第{i}条通知" for i in range(3)]
    log = run.log.read_text()
    assert "worker" in log and "died with signal SIGKILL" in log and f"restarted worker (pid {restarted}" in log
    assert run.poll() is None and _child(run.pid, "gunicorn") == gunicorn  # the web app went on serving
    assert _healthy(url)

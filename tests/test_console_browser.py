"""The staff console (/staff/) in a real browser: Playwright drives Debian's Chromium against a live server.

One app, one Redis state and one live server serve the whole module (the conftest `app` fixture is
per test and flushes Redis, so it is not used here). Citizens reach the bot through the signed webhook
of the live server, and what staff send them is checked at the WeChat API stand-in, as in production.

Chromium: `make test` installs Debian's package when /usr/bin/chromium is missing. Without it the browser
tests are skipped on a developer's machine and fail in CI (CI is set there).
Set CENTERBOT_SCREENSHOTS=1 to (re)write docs/screenshots/today.png and record.png.
"""
from __future__ import annotations

import html.parser
from datetime import date
import os
import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

from bot import create_app
from bot.store.calendar import CalendarStore
from bot.config import Settings
from bot.peer import WeChatPeer
from bot.store import Store, connect
from bot.wechat_api import make_client
from bot.worker import OutboxSender
from handlers.clock import FixedClock
from handlers.context import Context
from tests.conftest import MONDAY_MORNING, TOKEN, live
from tests.standin import WeChatStandIn

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 900}
PASSWORDS = {"李强": "li-pass-1234", "王芳": "wang-pass-1234", "张书记": "leader-pass-1234",
             "陈刚": "chen-pass-1234", "赵敏": "zhao-pass-1234"}
RECORD_NO = re.compile(r"编号：([A-Z]{2}\d{8}-\d{4,})")
BOOKING_CODE = re.compile(r"预约编号：([A-Z]+\d{8,})")
TIMEOUT_MS = 15_000


# -- one app and one live server for the module ---------------------------------------------------

@pytest.fixture(scope="module")
def mclock():
    return FixedClock(MONDAY_MORNING)


@pytest.fixture(scope="module")
def settings_env(tmp_path_factory, redis_url):
    return {"WECHAT_TOKEN": TOKEN, "REDIS_URL": redis_url,
            "CENTERBOT_DATA_DIR": str(tmp_path_factory.mktemp("console")),
            "CENTERBOT_PUBLIC_URL": "https://bot.example.cn"}


@pytest.fixture(scope="module")
def mstore(redis_url, mclock):
    client = connect(redis_url)
    client.flushall()
    yield Store(client, mclock)
    client.flushall()
    client.close()


@pytest.fixture(scope="module")
def mctx(kb, mstore, mclock):
    return Context.build(kb, mstore, mclock, "https://bot.example.cn", calendar_source=CalendarStore(mstore))


@pytest.fixture(scope="module")
def capp(settings_env, mctx):
    app = create_app(Settings.from_env(settings_env), context=mctx)
    app.config["TESTING"] = True
    return app


@pytest.fixture(scope="module")
def base(capp):
    """The live server's root URL (127.0.0.1, a free port)."""
    with live(capp) as url:
        yield url


@pytest.fixture(scope="module")
def staff(mstore):
    mstore.add_staff("王芳", "o_wang", role="window")
    mstore.add_staff("李强", "o_li", role="window", backup="王芳")
    mstore.add_staff("赵敏", "o_zhao", role="delegate")
    mstore.add_staff("张书记", "o_leader", role="leader")
    mstore.add_staff("陈刚", "o_chen", role="window")  # only for the rate-limit test
    for name, password in PASSWORDS.items():
        mstore.set_password(name, password)
    return mstore


class WebhookChat:
    """A citizen on WeChat: signed messages POSTed to the live server's /wechat."""

    def __init__(self, base: str):
        self.url = base + "/wechat"
        self.peer = WeChatPeer(TOKEN)

    def send(self, text: str, user: str) -> str:
        args, body = self.peer.sign(self.peer.xml(user, "text", text))
        res = requests.post(self.url, params=args, data=body, headers={"Content-Type": "text/xml"}, timeout=30)
        assert res.status_code == 200, res.text
        return self.peer.read_reply(res.content.decode("utf-8")).get("Content", "")


@pytest.fixture(scope="module")
def chat(base):
    return WebhookChat(base)


@pytest.fixture(scope="module")
def complaint(chat, staff):
    """A complaint from o_cit, held by its A holder 李强 (center.yaml records.types.complaint.a)."""
    no = complain(chat, "o_cit")
    assert staff.records.get(no)["responder"] == "李强"
    return no


def complain(chat, user: str, content: str = "窗口工作人员态度太差了") -> str:
    chat.send(content, user=user)
    chat.send("张三", user=user)
    done = chat.send("13800138000", user=user)
    m = RECORD_NO.search(done)
    assert m, done
    return m[1]


@pytest.fixture(scope="module")
def pending_booking(chat, staff):
    reply = chat.send("预约 会议室 明天 下午 张三 13800138000", user="o_meet")
    assert "待审核" in reply, reply
    m = BOOKING_CODE.search(reply)
    assert m, reply
    return m[1]


@pytest.fixture(scope="module")
def standin():
    server = WeChatStandIn()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sender(settings_env, standin, mstore):
    """The outbox worker with WeChat credentials, pointed at the API stand-in."""
    api = Settings.from_env(dict(settings_env, WECHAT_APP_ID="wxtestapp", WECHAT_APP_SECRET="s3cret",
                                 WECHAT_API_BASE=standin.base))
    return OutboxSender(mstore, make_client(api, mstore))


def send_outbox(sender) -> int:
    sent = 0
    for _ in range(50):  # bounded: a handful of batches at most
        n = sender.run_once()
        if not n:
            return sent
        sent += n
    return sent


# -- the browser ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing in CI: `make test` should have installed Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing: `make browser` (or apt-get install chromium) installs it")
    if os.environ.get("CI"):
        import playwright.sync_api as sync_api  # a test dependency: in CI it must be there
    else:
        sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' installs playwright")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    """A fresh browser context (no cookies) and page at 1280x900 for each test."""
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai")
    context.set_default_timeout(TIMEOUT_MS)
    pg = context.new_page()
    yield pg
    context.close()


def sign_in(page, base: str, name: str, password: str | None = None) -> None:
    page.goto(base + "/staff/login")
    assert page.locator('input[name="csrf"][type="hidden"]').count() == 1
    page.fill('input[name="name"]', name)
    page.fill('input[name="password"]', password if password is not None else PASSWORDS[name])
    submit(page, 'form:has(input[name="password"])')


def submit(page, form: str) -> None:
    """Click the form's submit button (a <button> without a type submits too) and wait for the next page."""
    button = page.locator(form).locator("button:not([type=button]):not([type=reset]), input[type=submit]")
    with page.expect_navigation():
        button.first.click()


def path_of(url: str) -> str:
    return urlparse(url).path


def screenshot(page, name: str) -> None:
    if os.environ.get("CENTERBOT_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.set_viewport_size(VIEWPORT)
        page.screenshot(path=str(SCREENSHOTS / name))


# -- browser tests --------------------------------------------------------------------------------

def test_a_wrong_password_is_refused_in_the_page(page, base, staff):
    sign_in(page, base, "赵敏", "not-the-password")
    assert path_of(page.url) != "/staff/"
    assert "用户名或密码错误" in page.content()


def test_the_a_holder_signs_in_and_sees_today(page, base, staff, complaint, pending_booking):
    sign_in(page, base, "李强")
    assert path_of(page.url) == "/staff/"
    assert page.inner_text("h1").strip() == "今日概览"
    for section in ("#open", "#overdue", "#due-tomorrow", "#bookings-today", "#on-duty", "#outbox"):
        assert page.locator(section).count() == 1, section
    assert "投诉" in page.inner_text("#open")  # counts by type and status
    screenshot(page, "today.png")


def test_the_a_holder_replies_and_the_citizen_gets_it_through_the_wechat_api(
        page, base, staff, complaint, sender, standin):
    send_outbox(sender)  # the hand-off notices of the complaint go first
    sign_in(page, base, "李强")
    page.goto(base + "/staff/records")
    link = page.locator(f'table#records a[href="/staff/records/{complaint}"]')
    assert link.count() == 1
    with page.expect_navigation():
        link.click()
    assert path_of(page.url) == f"/staff/records/{complaint}"
    assert complaint in page.inner_text("h1")
    assert page.locator("ol#history li").count() >= 1
    for form in ("form#reply", "form#transfer", "form#extend", "form#finish", "form#terminate"):
        assert page.locator(form).count() == 1, form
    assert page.locator('form#transfer select[name="to"]').count() == 1
    assert page.locator('form#extend input[name="days"]').count() == 1
    assert page.locator('form#extend input[name="reason"]').count() == 1
    assert page.locator('form#finish input[name="result"]').count() == 1
    assert page.locator('form#terminate input[name="reason"]').count() == 1
    screenshot(page, "record.png")

    text = "您好，已批评教育当事人，向您致歉"
    page.fill('form#reply textarea[name="text"]', text)
    submit(page, "form#reply")
    assert page.locator("div.flash").count() >= 1
    assert text in page.inner_text("ol#history")

    before = len(standin.sent())
    assert send_outbox(sender) >= 1
    to_citizen = [c for c in standin.sent()[before:] if c.get("touser") == "o_cit"]
    assert any(text in c.get("text", {}).get("content", "") for c in to_citizen), standin.sent()[before:]


def open_record(page, base: str, no: str) -> None:
    page.goto(base + "/staff/records")
    with page.expect_navigation():
        page.locator(f'table#records a[href="/staff/records/{no}"]').click()
    assert no in page.inner_text("h1")


def test_a_reply_is_shown_as_text_not_markup(page, base, staff, complaint):
    sign_in(page, base, "李强")
    open_record(page, base, complaint)
    page.fill('form#reply textarea[name="text"]', "<b id=injected>加粗</b>请携带身份证")
    submit(page, "form#reply")
    assert page.locator("#injected").count() == 0
    assert "<b id=injected>加粗</b>请携带身份证" in page.inner_text("ol#history")


def test_an_extension_a_leader_approves_in_the_console_then_the_a_holder_finishes(page, base, staff, chat):
    no = complain(chat, "o_cit2")
    due = float(staff.records.get(no)["due"])
    sign_in(page, base, "李强")
    open_record(page, base, no)
    page.fill('form#extend input[name="days"]', "2")
    page.fill('form#extend input[name="reason"]', "需要调取监控核实")
    submit(page, "form#extend")
    assert "待中心领导审批" in page.inner_text("div.flash")
    assert float(staff.records.get(no)["due"]) == due  # not before a leader approves it
    assert page.locator("form#approve-extension").count() == 0  # the clerk cannot approve it
    page.context.clear_cookies()
    sign_in(page, base, "张书记")
    assert no in page.inner_text("section#extension-requests")  # today's page lists what waits for a leader
    page.goto(base + f"/staff/records/{no}")
    assert "需要调取监控核实" in page.inner_text("section#extension-request")
    submit(page, "form#approve-extension")
    assert float(staff.records.get(no)["due"]) > due
    assert "需要调取监控核实" in page.inner_text("ol#history")
    assert "需要调取监控核实" in last_text(staff, "o_cit2")
    page.context.clear_cookies()
    sign_in(page, base, "李强")
    open_record(page, base, no)
    page.fill('form#finish input[name="result"]', "已调取监控，当事人已道歉")
    submit(page, "form#finish")
    assert page.locator("div.flash").count() >= 1
    assert staff.records.get(no)["status"] == "done"
    assert "已办结" in page.inner_text("h1")
    assert page.locator("form#finish").count() == 0
    told = staff.outbox_for_user("o_cit2")[-1].payload.get("content", "")
    assert "当事人已道歉" in told and "非常满意" in told


def test_transferring_a_record_hands_it_over_and_keeps_the_clerk_on_a_page(page, base, staff, chat):
    no = complain(chat, "o_cit3")
    sign_in(page, base, "李强")
    open_record(page, base, no)
    page.select_option('form#transfer select[name="to"]', "王芳")
    res_status = []
    page.on("response", lambda r: res_status.append((r.url, r.status)))
    submit(page, "form#transfer")
    assert staff.records.get(no)["responder"] == "王芳"
    assert res_status[-1][1] == 200, res_status  # not an error page for the one who passed it on
    assert page.locator("div.flash").count() >= 1
    assert no in last_text(staff, "o_wang")


def last_text(store, openid: str) -> str:
    items = store.outbox_for_user(openid)
    return items[-1].payload.get("content", "") if items else ""


def test_a_clerk_of_another_resource_gets_no_approve_button_and_a_forged_one_is_refused(page, base, staff, chat,
                                                                                          mctx):
    reply = chat.send("预约 会议室 周四 上午 王五 13700001111", user="o_meet3")
    code = BOOKING_CODE.search(reply)[1]
    sign_in(page, base, "王芳")  # the gym's and reading room's clerk; the meeting room is 李强's
    page.goto(base + "/staff/bookings?resource=meeting-room")
    assert code in page.content()
    assert page.locator(f'form.approve[action="/staff/bookings/{code}/approve"]').count() == 0
    token = page.locator('input[name="csrf"]').first.get_attribute("value")
    for action, data in (("approve", {}), ("decline", {"reason": "不想给"})):
        res = page.request.post(f"{base}/staff/bookings/{code}/{action}", form={"csrf": token, **data})
        assert "不能处理" in res.text()  # the flash on the page it is sent back to
    letters = {r.code: r.id for r in mctx.kb.resources.values()}
    assert mctx.store.bookings.get(code, letters)["status"] == "pending"


def test_a_copied_session_cookie_is_dead_after_signing_out(page, browser, base, staff):
    sign_in(page, base, "赵敏")
    copied = page.context.cookies()
    assert copied
    submit(page, 'form[action="/staff/logout"]')
    other = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    try:
        other.add_cookies(copied)
        thief = other.new_page()
        thief.goto(base + "/staff/")
        assert path_of(thief.url) == "/staff/login"
    finally:
        other.close()


def test_a_password_change_ends_the_members_open_session(page, base, staff):
    sign_in(page, base, "赵敏")
    assert path_of(page.url) == "/staff/"
    staff.set_password("赵敏", PASSWORDS["赵敏"])  # set again: a new hash, so every session of hers ends
    page.goto(base + "/staff/records")
    assert path_of(page.url) == "/staff/login"
    sign_in(page, base, "赵敏")
    assert path_of(page.url) == "/staff/"


def test_the_leader_approves_a_pending_meeting_room_booking(page, base, staff, pending_booking, mctx):
    sign_in(page, base, "张书记")
    page.goto(base + "/staff/bookings")
    assert page.locator("table#week").count() == 1
    approve = page.locator(f'form.approve[action="/staff/bookings/{pending_booking}/approve"]')
    assert approve.count() == 1
    decline = page.locator(f'form.decline[action="/staff/bookings/{pending_booking}/decline"]')
    assert decline.locator('input[name="reason"]').count() == 1
    submit(page, f'form.approve[action="/staff/bookings/{pending_booking}/approve"]')
    assert page.locator("div.flash").count() >= 1
    assert page.locator(f'form.approve[action="/staff/bookings/{pending_booking}/approve"]').count() == 0
    # confirmed now, but not begun: a no-show cannot be recorded yet
    assert page.locator(f'form.no-show[action="/staff/bookings/{pending_booking}/no-show"]').count() == 0
    letters = {r.code: r.id for r in mctx.kb.resources.values()}
    booking = mctx.store.bookings.get(pending_booking, letters)
    assert booking["status"] == "confirmed" and booking.get("decided_by") == "张书记"
    told = mctx.store.outbox_for_user("o_meet")[-1].payload.get("content", "")
    assert "审核通过" in told and pending_booking in told


def test_the_leader_declines_a_booking_with_a_reason(page, base, staff, chat, mctx):
    reply = chat.send("预约 会议室 后天 下午 李四 13900001111", user="o_meet2")
    code = BOOKING_CODE.search(reply)[1]
    sign_in(page, base, "张书记")
    page.goto(base + "/staff/bookings")
    decline = f'form.decline[action="/staff/bookings/{code}/decline"]'
    page.fill(f'{decline} input[name="reason"]', "当天有上级检查")
    submit(page, decline)
    assert page.locator("div.flash").count() >= 1
    letters = {r.code: r.id for r in mctx.kb.resources.values()}
    assert mctx.store.bookings.get(code, letters)["status"] == "declined"
    assert "当天有上级检查" in last_text(mctx.store, "o_meet2")


def test_staff_register_a_phone_complaint_in_the_console(page, base, staff):
    sign_in(page, base, "王芳")
    page.goto(base + "/staff/records")
    with page.expect_navigation():
        page.locator('a[href="/staff/records/new"]').click()
    page.select_option('form#register select[name="type"]', "complaint")
    page.fill('form#register input[name="name"]', "孙大爷")
    page.fill('form#register input[name="phone"]', "13911112222")
    page.fill('form#register textarea[name="content"]', "来电反映窗口午休时间不办事")
    submit(page, "form#register")
    no = RECORD_NO.search("编号：" + page.inner_text("h1").split(" ")[0])[1]
    record = staff.records.get(no)
    assert record["registered_by"] == "王芳" and record["responder"] == "李强" and record["openid"] == ""
    assert "请电话回复" in page.inner_text("main")
    assert no in last_text(staff, "o_li") and no in last_text(staff, "o_leader")
    page.goto(base + "/staff/records")
    assert "139****2222" in page.inner_text("table#records") and "13911112222" not in page.inner_text("table#records")
    page.goto(base + "/staff/records/new")
    page.fill('form#register textarea[name="content"]', "内容")
    page.fill('form#register input[name="phone"]', "12345")
    submit(page, "form#register")
    assert "不像一个电话号码" in page.inner_text("div.flash")


def test_staff_book_the_gym_for_a_caller_in_the_console(page, base, staff):
    sign_in(page, base, "王芳")
    page.goto(base + "/staff/bookings/new")
    page.select_option('form#book select[name="resource"]', "gym")
    page.fill('form#book input[name="date"]', "2026-11-24")
    page.fill('form#book input[name="start"]', "10:00")
    page.fill('form#book input[name="name"]', "孙大爷")
    page.fill('form#book input[name="phone"]', "13911112222")
    submit(page, "form#book")
    assert "预约编号" in page.inner_text("div.flash")
    day = [b for b in staff.bookings.of_day("20261124") if b["name"] == "孙大爷"]
    assert len(day) == 1 and day[0]["start"] == "10:00" and day[0]["status"] == "confirmed"
    page.goto(base + "/staff/bookings/new")
    page.fill('form#book input[name="date"]', "2026-11-28")  # a Saturday
    page.fill('form#book input[name="start"]', "10:00")
    page.fill('form#book input[name="name"]', "孙大爷")
    page.fill('form#book input[name="phone"]', "13911112222")
    submit(page, "form#book")
    assert "预约编号" not in page.inner_text("div.flash")
    assert [b for b in staff.bookings.of_day("20261128")] == []


def test_a_window_application_is_accepted_in_the_console_with_a_printable_promise_notice(page, base, staff):
    sign_in(page, base, "赵敏")
    page.goto(base + "/staff/records")
    with page.expect_navigation():
        page.locator('a[href="/staff/applications/new"]').click()
    page.select_option('form#application select[name="matter"]', "subsistence-allowance")
    page.fill('form#application input[name="name"]', "孙大妈")
    page.fill('form#application input[name="phone"]', "13933334444")
    submit(page, "form#application")
    no = page.inner_text("h1").split(" ")[0]
    assert no.startswith("BJ") and staff.records.get(no)["days"] == "25"
    href = page.locator("a#written-notice").get_attribute("href")
    page.goto(base + href.replace("https://bot.example.cn", ""))
    assert "承诺通知单" in page.inner_text("h1") and "25个工作日" in page.inner_text("main")


def test_a_refusal_in_the_console_prints_the_reason_and_is_in_the_ledger(page, base, staff):
    sign_in(page, base, "赵敏")
    page.goto(base + "/staff/applications/new")
    page.select_option('form#application select[name="matter"]', "subsistence-allowance")
    page.fill('form#application input[name="name"]', "孙大爷")
    page.fill('form#application input[name="phone"]', "13933335555")
    page.check('form#application input[value="refuse"]')
    page.fill('form#application input[name="reason"]', "家庭人均收入高于当地低保标准")
    submit(page, "form#application")
    no = page.inner_text("h1").split(" ")[0]
    assert staff.records.get(no)["status"] == "terminated"
    href = page.locator("a#written-notice").get_attribute("href")
    page.goto(base + href.replace("https://bot.example.cn", ""))
    assert "不予受理通知书" in page.inner_text("h1") and "家庭人均收入高于当地低保标准" in page.inner_text("#reason")
    assert any(no in e["reason"] for e in staff.referrals(0))


def test_the_window_confirms_an_appointment_in_the_console(page, base, staff, chat):
    chat.send("能不能约个延时服务办低保", user="o_appt")
    chat.send("周六上午9点", user="o_appt")
    chat.send("王大妈", user="o_appt")
    no = RECORD_NO.search(chat.send("13700001111", user="o_appt"))[1]
    assert staff.records.get(no)["responder"] == "赵敏"
    sign_in(page, base, "赵敏")
    page.goto(base + f"/staff/records/{no}")
    assert "周六上午9" in page.inner_text("section#appointment")
    submit(page, "form#confirm")
    assert staff.records.get(no)["at_text"] == "11月28日09:00"
    assert "已确认：11月28日09:00" in last_text(staff, "o_appt")


def test_records_export_is_a_csv_with_a_bom(page, base, staff, complaint):
    sign_in(page, base, "张书记")  # exports are for the leaders
    page.goto(base + "/staff/records?since=2026-11-01&until=2026-11-30")
    with page.expect_download() as info:
        page.click('a[href^="/staff/export/records.csv"]')
    body = Path(info.value.path()).read_bytes()
    assert info.value.suggested_filename.endswith(".csv")
    assert body.startswith(b"\xef\xbb\xbf")
    assert complaint in body.decode("utf-8-sig")
    res = page.request.get(base + "/staff/export/records.csv?since=2026-11-01&until=2026-11-30")
    assert res.status == 200
    assert res.headers["content-type"].startswith("text/csv")
    assert res.body().startswith(b"\xef\xbb\xbf") and complaint in res.body().decode("utf-8-sig")


def test_other_exports_are_csvs_with_a_bom(page, base, staff):
    sign_in(page, base, "张书记")
    for name in ("bookings", "referrals", "ratings"):
        res = page.request.get(base + f"/staff/export/{name}.csv?since=2026-11-01&until=2026-11-30")
        assert res.status == 200, name
        assert res.headers["content-type"].startswith("text/csv"), name
        assert res.body().startswith(b"\xef\xbb\xbf"), name


def test_knowledge_and_stats_pages(page, base, staff):
    sign_in(page, base, "张书记")
    page.goto(base + "/staff/knowledge")
    for table in ("#matters", "#unanswered", "#referrals"):
        assert page.locator(table).count() == 1, table
    page.goto(base + "/staff/stats")
    assert page.locator("svg#ratings-chart").count() == 1
    assert page.locator("svg#ontime-chart").count() == 1


@pytest.mark.parametrize("name", ["李强", "张书记"])
def test_every_link_shown_to_a_signed_in_member_opens(page, base, staff, complaint, name):
    """No dead ends: a link the console shows someone leads to a page that person may open."""
    sign_in(page, base, name)
    hrefs = set()
    for path in ("/staff/", "/staff/records", "/staff/bookings", "/staff/knowledge"):
        page.goto(base + path)
        hrefs.update(a.get_attribute("href") for a in page.locator("a[href]").all())
    broken = []
    for href in sorted(h for h in hrefs if h and h.startswith(("/staff/", "?"))):
        url = base + ("/staff/bookings" + href if href.startswith("?") else href)
        status = page.request.get(url, max_redirects=0).status
        if status != 200:
            broken.append((href, status))
    assert broken == [], broken


def test_a_leader_imports_next_years_notice_on_the_calendar_page(page, base, staff, mctx):
    notice = (Path(__file__).resolve().parent / "data" / "notices" / "hypothetical-2027.txt").read_text("utf-8")
    sign_in(page, base, "张书记")
    if not mctx.calendar.known(2027):  # before this test imports it: the Today page warns
        assert "2027年的放假调休安排尚未导入" in page.inner_text("#calendar-warning")
    with page.expect_navigation():
        page.click('header a[href="/staff/calendar"]')
    page.fill("#notice-text", notice.replace("1月1日（周五）", "1月1日（周四）"))
    submit(page, "form:has(#notice-text)")
    assert "第9行" in page.inner_text("#notice-error") and "未保存任何内容" in page.inner_text("#notice-error")
    page.fill("#notice-text", notice)
    submit(page, "form:has(#notice-text)")
    assert "2027-02-12" in page.inner_text("#preview") and page.locator("#preview tr.row").count() == 33
    replacing = page.locator('#preview input[name="replace"]').count() == 1
    if replacing:
        page.check('#preview input[name="replace"]')
    submit(page, "form:has(#confirm)")
    assert path_of(page.url) == "/staff/calendar" and "已保存2027年" in page.content()
    assert mctx.calendar.known(2027) and not mctx.calendar.is_workday(date(2027, 2, 10))
    assert "已导入国务院办公厅通知（张书记" in page.inner_text("#years")


def test_a_window_clerk_may_not_open_the_calendar_page(page, base, staff):
    sign_in(page, base, "王芳")
    assert page.locator('header a[href="/staff/calendar"]').count() == 0
    assert page.goto(base + "/staff/calendar").status == 403


def test_signing_out_ends_the_session(page, base, staff):
    sign_in(page, base, "李强")
    assert path_of(page.url) == "/staff/"
    assert page.locator('form[action="/staff/logout"]').count() == 1
    submit(page, 'form[action="/staff/logout"]')
    assert path_of(page.url) == "/staff/login"
    page.goto(base + "/staff/")
    assert path_of(page.url) == "/staff/login"


# -- without a browser: redirects, roles, CSRF, rate limit ----------------------------------------

class FormReader(html.parser.HTMLParser):
    """The hidden csrf input's value in a page, and each form's id, class and action."""

    def __init__(self):
        super().__init__()
        self.csrf = None
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name") == "csrf":
            self.csrf = a.get("value")
        if tag == "form":
            self.forms.append(a)


def read_page(page_html: str) -> FormReader:
    reader = FormReader()
    reader.feed(page_html)
    return reader


def csrf_of(page_html: str) -> str:
    token = read_page(page_html).csrf
    assert token, page_html[:500]
    return token


def login_session(base: str, name: str, password: str | None = None) -> tuple[requests.Session, requests.Response]:
    s = requests.Session()
    token = csrf_of(s.get(base + "/staff/login", timeout=30).text)
    res = s.post(base + "/staff/login", data={"name": name, "password": password or PASSWORDS[name], "csrf": token},
                 allow_redirects=False, timeout=30)
    return s, res


def test_signed_out_pages_redirect_to_the_login(base, staff):
    for path in ("/staff/", "/staff/records", "/staff/bookings"):
        res = requests.get(base + path, allow_redirects=False, timeout=30)
        assert res.status_code in (302, 303), path
        assert path_of(res.headers["Location"]) == "/staff/login", path


def test_signing_in_redirects_to_today(base, staff):
    s, res = login_session(base, "王芳")
    assert res.status_code in (302, 303)
    assert path_of(res.headers["Location"]) == "/staff/"
    assert "今日概览" in s.get(base + "/staff/", timeout=30).text


def test_a_window_clerk_may_not_open_another_clerks_record(base, staff, complaint):
    s, res = login_session(base, "王芳")
    assert res.status_code in (302, 303)
    assert s.get(base + f"/staff/records/{complaint}", allow_redirects=False, timeout=30).status_code == 403


def test_a_window_clerk_lists_only_their_own_records(base, staff, complaint):
    s, res = login_session(base, "王芳")
    assert res.status_code in (302, 303)
    page_html = s.get(base + "/staff/records?since=2026-11-01&until=2026-11-30", timeout=30).text
    assert 'id="records"' in page_html and complaint not in page_html


def test_a_post_without_csrf_is_refused(base, staff, complaint):
    res = requests.post(base + "/staff/login", data={"name": "李强", "password": PASSWORDS["李强"]},
                        allow_redirects=False, timeout=30)
    assert res.status_code == 400
    s, res = login_session(base, "李强")
    assert res.status_code in (302, 303)
    record_url = base + f"/staff/records/{complaint}"
    forms = {f.get("id"): f for f in read_page(s.get(record_url, timeout=30).text).forms}
    action = forms["reply"].get("action") or f"/staff/records/{complaint}"
    target = action if action.startswith("http") else base + action
    res = s.post(target, data={"text": "没有令牌的回复"}, allow_redirects=False, timeout=30)
    assert res.status_code == 400
    assert not any("没有令牌的回复" in e.get("text", "") + e.get("note", "") + str(e)
                   for e in staff.records.history(complaint))


def test_too_many_wrong_passwords_answer_429(base, staff):
    s = requests.Session()
    codes = []
    for _ in range(7):
        token = csrf_of(s.get(base + "/staff/login", timeout=30).text)
        res = s.post(base + "/staff/login", data={"name": "陈刚", "password": "wrong", "csrf": token},
                     allow_redirects=False, timeout=30)
        codes.append(res.status_code)
    assert 429 not in codes[:5], codes
    assert codes[-1] == 429, codes
    # the right password does not get through while the name is locked out
    token = csrf_of(s.get(base + "/staff/login", timeout=30).text)
    res = s.post(base + "/staff/login", data={"name": "陈刚", "password": PASSWORDS["陈刚"], "csrf": token},
                 allow_redirects=False, timeout=30)
    assert res.status_code == 429

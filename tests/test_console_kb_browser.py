"""The keeper's desk in a real browser: a leader edits a matter with its preview, the citizen's next answer
has the change without a restart, a second editor working from an old copy is told, and a change is
reverted. Chromium through Playwright, against a live server that follows the base's version."""
from __future__ import annotations

import os
import time

import pytest
import requests

from bot import create_app
from bot.config import Settings
from tests.conftest import TOKEN, live
from tests.test_console_browser import WebhookChat, browser, page, sign_in

__all__ = ["browser", "page"]  # the browser fixtures of the console's browser tests, used here too

PASSWORDS = {"张书记": "leader-pass-1234", "王芳": "wang-pass-1234"}


@pytest.fixture(scope="module")
def kapp(tmp_path_factory, redis_url):
    old = os.environ.get("CENTERBOT_SEMANTIC")
    os.environ["CENTERBOT_SEMANTIC"] = "off"  # what is tested is the desk and the reload, not embeddings
    try:
        from bot.store import connect

        connect(redis_url).flushall()
        env = {"WECHAT_TOKEN": TOKEN, "REDIS_URL": redis_url, "CENTERBOT_DATA_DIR": str(tmp_path_factory.mktemp("kb")),
               "CENTERBOT_PUBLIC_URL": "https://bot.example.cn"}
        app = create_app(Settings.from_env(env))  # its own context, following the base's version live
        app.config["TESTING"] = True
        store = app.extensions["centerbot"].store
        store.add_staff("张书记", "o_leader", role="leader")
        store.add_staff("王芳", "o_wang", role="window")
        for name, password in PASSWORDS.items():
            store.set_password(name, password)
        yield app
        app.extensions["centerbot.live"].watch.stop()
    finally:
        if old is None:
            os.environ.pop("CENTERBOT_SEMANTIC", None)
        else:
            os.environ["CENTERBOT_SEMANTIC"] = old


@pytest.fixture(scope="module")
def kbase(kapp):
    with live(kapp) as url:
        yield url


def leader_in(page, kbase):
    sign_in(page, kbase, "张书记", PASSWORDS["张书记"])


def eventually(check, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


def test_a_leader_edits_a_matter_with_its_preview_and_the_citizen_gets_the_change(page, kbase):
    chat = WebhookChat(kbase)
    assert "测试提示：请带党员证" not in chat.send("交党费", user="o_c1")
    leader_in(page, kbase)
    page.click("text=事项维护")
    page.click("a[href='/staff/kb/matters/party-fee']")
    page.fill('textarea[name="note"]', "测试提示：请带党员证")
    page.fill('input[name="mat-0-name"]', "党员本人身份证（测试）")
    with page.expect_navigation():
        page.click("#matter button[value=preview]")
    preview = page.inner_text("#preview")
    assert "测试提示：请带党员证" in preview and "字节" in preview and "党员本人身份证（测试）" in preview
    with page.expect_navigation():
        page.click("#save")
    assert "已保存" in page.inner_text(".flash")
    assert eventually(lambda: "测试提示：请带党员证" in chat.send("交党费", user="o_c2"))
    assert "党员本人身份证（测试）" in chat.send("交党费", user="o_c3")


def test_a_second_editor_working_from_an_old_copy_is_told_and_nothing_is_lost(browser, kbase):
    pages = []
    for _ in range(2):
        context = browser.new_context(locale="zh-CN")
        context.set_default_timeout(15_000)
        pg = context.new_page()
        leader_in(pg, kbase)
        pg.goto(kbase + "/staff/kb/matters/party-fee")
        pages.append(pg)
    first, second = pages
    first.fill('input[name="where"]', "第一位修改的地点")
    with first.expect_navigation():
        first.click("#save")
    assert "已保存" in first.inner_text(".flash")
    second.fill('input[name="where"]', "第二位修改的地点")
    with second.expect_navigation():
        second.click("#save")
    assert "其他人已修改" in second.inner_text("#errors")
    first.goto(kbase + "/staff/kb/matters/party-fee")
    assert first.input_value('input[name="where"]') == "第一位修改的地点"
    for pg in pages:
        pg.context.close()


def test_a_change_is_reverted_from_the_history(page, kbase):
    chat = WebhookChat(kbase)
    leader_in(page, kbase)
    page.goto(kbase + "/staff/kb/matters/party-fee")
    page.fill('textarea[name="note"]', "将被撤销的提示")
    with page.expect_navigation():
        page.click("#save")
    assert eventually(lambda: "将被撤销的提示" in chat.send("交党费", user="o_c4"))
    page.goto(kbase + "/staff/kb/history")
    row = page.locator("#changes tr", has_text="修改事项").first
    assert "张书记" in row.inner_text()
    with page.expect_navigation():
        row.locator("button").click()
    assert "已撤销" in page.inner_text(".flash")
    assert eventually(lambda: "将被撤销的提示" not in chat.send("交党费", user="o_c5"))


def test_the_desk_is_for_leaders_and_admins_only(kbase):
    s = requests.Session()
    login = s.get(kbase + "/staff/login").text
    import re

    csrf = re.search(r'name="csrf" value="([^"]+)"', login)[1]
    s.post(kbase + "/staff/login", data={"csrf": csrf, "name": "王芳", "password": PASSWORDS["王芳"]})
    assert s.get(kbase + "/staff/kb/", allow_redirects=False).status_code == 403
    assert s.post(kbase + "/staff/kb/matters/party-fee", data={"csrf": csrf}).status_code in (400, 403)
    anonymous = requests.get(kbase + "/staff/kb/", allow_redirects=False)
    assert anonymous.status_code == 302 and "/staff/login" in anonymous.headers["Location"]


def test_a_leader_sets_ordered_b_holders_and_plans_leave_and_the_next_complaint_follows_the_order(page, kbase, kapp):
    import datetime as dt
    import re

    store = kapp.extensions["centerbot"].store
    store.add_staff("李强", "o_li", role="window")
    store.add_staff("赵敏", "o_zhao", role="delegate")
    leader_in(page, kbase)
    page.goto(kbase + "/staff/kb/staff")
    row = page.locator("#post-type-complaint")
    row.locator('select[name="a"]').select_option("李强")
    row.locator('select[name="b"]').nth(0).select_option("赵敏")
    row.locator('select[name="b"]').nth(1).select_option("王芳")
    with page.expect_navigation():
        row.locator(".holders-form button").click()
    assert "B岗依次为赵敏、王芳" in page.inner_text("main")
    last_day = (dt.date.today() + dt.timedelta(days=12)).isoformat()  # the live server runs on the real clock
    for name in ("李强", "赵敏"):
        form = page.locator("#roster tr", has_text=name).locator("form.away-form")
        form.locator('input[name="until"]').fill(last_day)
        with page.expect_navigation():
            form.locator("button").click()
    chat = WebhookChat(kbase)
    chat.send("窗口工作人员态度太差了，问三遍都不理人", user="o_ab1")
    chat.send("张三", user="o_ab1")
    done = chat.send("13800138000", user="o_ab1")
    no = re.search(r"编号：([A-Z]{2}\d{8}-\d{4,})", done)[1]
    assert store.records.get(no)["responder"] == "王芳"  # A and B1 away: B2, without a restart
    form = page.locator("#roster tr", has_text="王芳").locator("form.away-form")
    form.locator('input[name="until"]').fill(last_day)
    with page.expect_navigation():
        form.locator("button").click()
    assert "投诉（李强、赵敏、王芳）" in page.inner_text("#uncovered")
    page.goto(kbase + "/staff/")
    assert "投诉的A岗和B岗（李强、赵敏、王芳）" in page.inner_text("#on-duty")
    for name in ("李强", "赵敏", "王芳"):
        store.set_away(name, None)
    store.reset_holders("type:complaint")

"""The staff console without a browser: sign-in, CSRF, roles, the same operations as WeChat, exports."""
from __future__ import annotations

import re

import pytest

from tests.test_records import complain, last, number_of

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def add_people(store, *people: tuple[str, str, str]):
    """Staff who sign in to the console, each with the password `secret-123`."""
    for name, openid, role in people:
        store.add_staff(name, openid, role)
        store.set_password(name, "secret-123")


@pytest.fixture()
def people(store):
    add_people(store, ("李强", "o_li", "window"), ("王芳", "o_wang", "window"), ("张书记", "o_leader", "leader"))


def csrf_of(client, url="/staff/login"):
    return CSRF.search(client.get(url).get_data(as_text=True))[1]


def sign_in(client, name, password="secret-123"):
    return client.post("/staff/login", data={"name": name, "password": password, "csrf": csrf_of(client)})


def test_signed_out_pages_redirect_to_the_sign_in(client):
    res = client.get("/staff/records")
    assert res.status_code == 302 and res.headers["Location"].endswith("/staff/login")


def test_sign_in_with_the_right_password_only(client, people):
    assert "用户名或密码错误" in sign_in(client, "李强", "wrong").get_data(as_text=True)
    res = sign_in(client, "李强")
    assert res.status_code == 302 and res.headers["Location"].endswith("/staff/")
    assert "今日概览" in client.get("/staff/").get_data(as_text=True)


def test_passwords_are_stored_only_as_hashes(store, people):
    assert "secret-123" not in store.r.hget("centerbot:{staff}:roster", "李强")


def test_repeated_failures_are_rate_limited(client, people):
    for _ in range(5):
        sign_in(client, "王芳", "guess")
    assert sign_in(client, "王芳").status_code == 429  # even the right password, for 15 minutes


def test_a_post_without_the_csrf_token_is_refused(client, people):
    sign_in(client, "李强")
    assert client.post("/staff/logout").status_code == 400
    assert client.post("/staff/login", data={"name": "李强", "password": "secret-123"}).status_code == 400


def test_session_cookie_is_httponly_and_samesite(client, people):
    res = sign_in(client, "李强")
    cookie = res.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_window_staff_see_their_own_records_only(client, chat, people):
    no = number_of(complain(chat))  # a complaint: 李强 is the A holder
    sign_in(client, "王芳")
    assert no not in client.get("/staff/records").get_data(as_text=True)
    assert client.get(f"/staff/records/{no}").status_code == 403
    assert client.get("/staff/stats").status_code == 403
    assert client.get("/staff/export/records.csv").status_code == 403


def test_the_assigned_staff_sees_the_full_phone_others_see_it_masked(client, chat, people, store):
    no = number_of(complain(chat))
    sign_in(client, "李强")
    assert "13800138000" in client.get(f"/staff/records/{no}").get_data(as_text=True)
    chat.send(f"转办 {no} 王芳", user="o_li")
    sign_in(client, "张书记")
    assert "13800138000" in client.get(f"/staff/records/{no}").get_data(as_text=True)  # leaders see it


def test_a_reply_from_the_console_reaches_the_citizen_like_the_wechat_command(client, chat, people, store):
    no = number_of(complain(chat))
    sign_in(client, "李强")
    token = csrf_of(client, f"/staff/records/{no}")
    client.post(f"/staff/records/{no}/reply", data={"csrf": token, "text": "已约谈当事人"})
    assert "已约谈当事人" in last(store, "o_cit")
    page = client.get(f"/staff/records/{no}").get_data(as_text=True)
    assert "回复已发送给群众" in page and "已约谈当事人" in page  # the flash and the history
    client.post(f"/staff/records/{no}/finish", data={"csrf": token, "result": "已处理"})
    assert store.records.get(no)["status"] == "done" and "非常满意" in last(store, "o_cit")


def test_empty_forms_are_refused_politely(client, chat, people, store):
    no = number_of(complain(chat))
    sign_in(client, "李强")
    token = csrf_of(client, f"/staff/records/{no}")
    client.post(f"/staff/records/{no}/finish", data={"csrf": token, "result": " "})
    assert "请填写内容" in client.get(f"/staff/records/{no}").get_data(as_text=True)
    assert store.records.get(no)["status"] == "new"


def test_a_leader_approves_a_meeting_room_from_the_bookings_page(client, chat, people, store):
    code = re.search(r"预约编号：(\w+)", chat.send("预约 会议室 明天 下午 张三 13800138000", user="o_m"))[1]
    sign_in(client, "张书记")
    page = client.get("/staff/bookings?resource=meeting-room").get_data(as_text=True)
    assert code in page and "approve" in page
    client.post(f"/staff/bookings/{code}/approve", data={"csrf": csrf_of(client, "/staff/bookings")})
    assert "审核通过" in last(store, "o_m")


def test_exports_are_utf8_csv_with_a_bom(client, chat, people):
    no = number_of(complain(chat))
    chat.send("办护照去哪", user="o_ref")
    sign_in(client, "张书记")
    for kind in ("records", "bookings", "referrals", "ratings"):
        res = client.get(f"/staff/export/{kind}.csv?since=2026-11-01&until=2026-11-30")
        assert res.status_code == 200 and res.content_type.startswith("text/csv")
        assert res.data.startswith("\ufeff".encode())
    assert no in client.get("/staff/export/records.csv?since=2026-11-01&until=2026-11-30").get_data(as_text=True)
    assert client.get("/staff/export/records.csv?since=yesterday").status_code == 400


def test_stats_show_ratings_and_timeliness(client, chat, people):
    no = number_of(complain(chat))
    chat.send(f"办结 {no} 已处理", user="o_li")
    chat.send("2", user="o_cit")
    sign_in(client, "张书记")
    page = client.get("/staff/stats?since=2026-11-01&until=2026-11-30").get_data(as_text=True)
    assert 'id="ratings-chart"' in page and 'id="ontime-chart"' in page and 'id="staff-chart"' in page
    assert "满意" in page and "100%（1/1）" in page


def test_knowledge_page_previews_each_notification(client, people, kb):
    sign_in(client, "李强")
    page = client.get("/staff/knowledge").get_data(as_text=True)
    fee = kb.matters["party-fee"]
    assert f"【{fee.name}】，一次性告知如下" in page and 'href="/notice/party-fee"' in page


def test_today_shows_the_scheduled_jobs_the_worker_gave_up_on(client, people, store):
    store.schedule({"kind": "record_red", "no": "TS20261120-0003"}, at=0)
    job, _attempts = store.take_due_jobs()[0]
    store.give_up_job(job)
    sign_in(client, "张书记")
    page = client.get("/staff/").get_data(as_text=True)
    assert "定时任务多次执行失败 1 项" in page and "record_red TS20261120-0003" in page

"""Importing the State Council's notice (`centerbot calendar import`, the console): the parsed table,
confirmation, replacing a year, malformed notices; every process takes it up without a restart; and a
change of calendar cancels or moves what it affects, through the signed webhook and the worker."""
from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.calendar_import import preview, save
from bot.store.calendar import CalendarStore
from bot.cli import main
from knowledge.calendar import WorkCalendar
from bot.worker import run_jobs, watch_calendar

NOTICES = Path(__file__).resolve().parent / "data" / "notices"
NOTICE_2027 = NOTICES / "hypothetical-2027.txt"
CODE = re.compile(r"预约编号：([A-Z]+\d{8,})")
NUMBER = re.compile(r"编号：([A-Z]{2}\d{8}-\d{4,})")


def at(clock, *args):
    clock.set(dt.datetime(*args))


def contents(store, openid):
    return [item.payload.get("content", "") for item in store.outbox_for_user(openid)]


def import_cli(settings_env, path, *args, input=None):
    return CliRunner().invoke(main, ["calendar", "import", str(path), *args], env=settings_env, input=input)


def test_import_shows_the_parsed_table_and_saves_on_confirmation(settings_env, store, ctx):
    result = import_cli(settings_env, NOTICE_2027, input="y\n")
    assert result.exit_code == 0, result.output
    assert "2027-02-12  星期五  放假  春节" in result.output and "2027-02-20  星期六  上班  春节" in result.output
    assert "保存为2027年的日历" in result.output and "已保存2027年" in result.output
    assert CalendarStore(store).years() == [2027]
    ctx.calendar.refresh(force=True)
    assert ctx.calendar.known(2027) and not ctx.calendar.is_workday(dt.date(2027, 2, 10))
    assert ctx.calendar.is_workday(dt.date(2027, 2, 20))  # a make-up Saturday


def test_declining_the_confirmation_saves_nothing(settings_env, store):
    result = import_cli(settings_env, NOTICE_2027, input="n\n")
    assert result.exit_code != 0 and "未保存" in result.output
    assert CalendarStore(store).years() == [] and CalendarStore(store).version() == 0


def test_a_year_already_imported_asks_before_replacing(settings_env, store):
    assert import_cli(settings_env, NOTICE_2027, "--yes").exit_code == 0
    version = CalendarStore(store).version()
    kept = import_cli(settings_env, NOTICE_2027, input="n\n")
    assert "已经导入过，要替换吗" in kept.output and kept.exit_code != 0
    assert CalendarStore(store).version() == version
    replaced = import_cli(settings_env, NOTICE_2027, input="y\ny\n")
    assert replaced.exit_code == 0 and CalendarStore(store).version() == version + 1


def test_a_malformed_notice_gets_an_error_naming_the_line_and_nothing_is_saved(settings_env, store, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text(NOTICE_2027.read_text(encoding="utf-8").replace("1月1日（周五）", "1月1日（周四）"),
                   encoding="utf-8")
    result = import_cli(settings_env, bad, "--yes")
    assert result.exit_code != 0 and "第9行" in result.output and "星期五" in result.output
    assert "未保存任何内容" in result.output
    assert CalendarStore(store).years() == [] and CalendarStore(store).version() == 0


def test_every_process_takes_up_an_import_without_a_restart(kb, store, ctx):
    other = WorkCalendar(kb.center, CalendarStore(store), check_every=0)  # another worker's calendar
    assert other.is_workday(dt.date(2027, 2, 10))
    save(ctx, preview(ctx, NOTICE_2027.read_text(encoding="utf-8")), "test")
    assert not other.is_workday(dt.date(2027, 2, 10)) and other.day(dt.date(2027, 2, 10)).holiday == "春节"
    assert other.day(dt.date(2027, 2, 10)).known


def test_a_process_looks_at_the_store_at_most_every_two_seconds(kb, store):
    calls = []

    class Counting(CalendarStore):
        def version(self):
            calls.append(1)
            return super().version()

    cal = WorkCalendar(kb.center, Counting(store))
    for day in range(1, 29):
        cal.is_workday(dt.date(2027, 2, day))
    assert len(calls) == 1  # 28 questions, one look at the version


def test_after_import_the_festival_question_gives_the_notices_dates(chat, clock, ctx):
    at(clock, 2026, 12, 3, 10, 0)
    save(ctx, preview(ctx, NOTICE_2027.read_text(encoding="utf-8")), "test")
    reply = chat.send("春节开门吗")
    assert "2027年2月5日至2月12日" in reply and "共8天" in reply and "尚未公布" not in reply
    assert "调休上班日" in chat.send("2027年2月20日开门吗", user="o_makeup")


def test_an_amending_notice_changes_the_imported_year(ctx):
    save(ctx, preview(ctx, (NOTICES / "2019.txt").read_text(encoding="utf-8")), "test")
    assert ctx.calendar.is_workday(dt.date(2019, 5, 2))
    seen = preview(ctx, (NOTICES / "2019-amended.txt").read_text(encoding="utf-8"))
    assert seen.year == 2019 and dt.date(2019, 5, 2) in seen.changed
    save(ctx, seen, "test")
    assert not ctx.calendar.is_workday(dt.date(2019, 5, 2)) and ctx.calendar.is_workday(dt.date(2019, 5, 5))


def test_an_amending_notice_without_its_year_is_refused(ctx):
    from knowledge.holiday_notice import NoticeError

    with pytest.raises(NoticeError, match="请先导入2020年"):
        preview(ctx, (NOTICES / "2020-amended.txt").read_text(encoding="utf-8"))


def test_importing_a_known_years_notice_changes_no_day(ctx):
    seen = preview(ctx, (NOTICES / "2026.txt").read_text(encoding="utf-8"))
    assert seen.changed == [] and not seen.replaces


@pytest.fixture()
def staff(store):
    store.add_staff("王芳", "o_wang", role="window")
    store.add_staff("李强", "o_li", role="window", backup="王芳")
    store.add_staff("张书记", "o_leader", role="leader")


def test_a_calendar_change_cancels_bookings_and_moves_due_dates_through_the_webhook_and_the_worker(
        chat, store, clock, ctx, staff, settings_env):
    at(clock, 2027, 2, 3, 10, 0)  # Wednesday; 2027 is known by law only
    booked = chat.send("预约 健身房 2月10日 上午9点 张三 13800138000", user="o_booker")
    code = CODE.search(booked)[1]
    assert "预约成功" in booked and any(j.get("code") == code for j, _ in store.jobs())
    chat.send("我要求助", user="o_helped")
    chat.send("家里老人摔倒了需要帮忙联系医院", user="o_helped")
    chat.send("李四", user="o_helped")
    no = NUMBER.search(chat.send("13900001111", user="o_helped"))[1]
    old_due = store.records.get(no)["due"]
    assert dt.datetime.fromtimestamp(old_due).date() == dt.date(2027, 2, 16)

    result = import_cli(settings_env, NOTICE_2027, "--yes")  # the administrator, in another process
    assert result.exit_code == 0, result.output and "2027-02-10" in result.output
    assert run_jobs(ctx) >= 1  # the worker

    cancelled = store.bookings.get(code, {"J": "gym"})
    assert cancelled["status"] == "cancelled" and cancelled["reason"] == "节假日安排调整"
    told = contents(store, "o_booker")[-1]
    assert "非常抱歉" in told and code in told and "春节" in told and "2月15日" in told
    assert any(code in text and "节假日安排调整" in text for text in contents(store, "o_wang"))
    assert not any(j.get("code") == code for j, _ in store.jobs())  # its reminder is gone
    assert "2月10日" in chat.send("预约 健身房 2月10日 上午9点 张三 13800138000", user="o_again") \
        and "不能预约" in chat.send("预约 健身房 2月10日 上午10点 王五 13800138001", user="o_again2")

    record = store.records.get(no)
    assert dt.datetime.fromtimestamp(record["due"]).date() == dt.date(2027, 2, 20)  # the make-up Saturday
    assert any("2027年2月16日调整为2027年2月20日" in text for text in contents(store, "o_helped"))
    deadlines = {(j["kind"], j.get("due")) for j, _ in store.jobs() if j.get("no") == no}
    assert ("record_red", record["due"]) in deadlines and ("record_red", old_due) not in deadlines
    assert "时限调整" in [e["action"] for e in store.records.history(no)]

    outbox_before = len(store.outbox_list("due", 500))
    job = {"kind": "calendar_changed", "year": 2027, "version": CalendarStore(store).version(),
           "changed": [d.isoformat() for d in preview(ctx, NOTICE_2027.read_text(encoding="utf-8")).changed]}
    from bot.worker import run_job

    ctx.calendar.refresh(force=True)
    run_job(ctx, {**job, "changed": ["2027-02-10", "2027-02-11", "2027-02-12", "2027-02-20"]})  # a re-run
    assert len(store.outbox_list("due", 500)) == outbox_before
    assert store.records.get(no)["due"] == record["due"]


def test_kb_check_warns_when_the_next_90_days_reach_a_year_not_imported(settings_env, store, ctx):
    result = CliRunner().invoke(main, ["kb", "check", "--on", "2026-12-03"], env=settings_env)
    assert result.exit_code == 0 and "2027年的放假调休安排尚未导入" in result.output
    quiet = CliRunner().invoke(main, ["kb", "check", "--on", "2026-06-01"], env=settings_env)
    assert "尚未导入" not in quiet.output
    save(ctx, preview(ctx, NOTICE_2027.read_text(encoding="utf-8")), "test")
    done = CliRunner().invoke(main, ["kb", "check", "--on", "2026-12-03"], env=settings_env)
    assert "尚未导入" not in done.output


def test_the_worker_logs_the_missing_year_and_reminds_the_leaders_once(ctx, store, clock, staff, caplog):
    at(clock, 2026, 12, 3, 10, 0)
    with caplog.at_level(logging.WARNING):
        assert watch_calendar(ctx) == [2027]
    assert "2027" in caplog.text and "not imported" in caplog.text
    reminder = contents(store, "o_leader")
    assert len(reminder) == 1 and "2027年" in reminder[0] and "节假日" in reminder[0]
    assert contents(store, "o_wang") == []  # leaders only
    watch_calendar(ctx)
    at(clock, 2026, 12, 20, 10, 0)
    watch_calendar(ctx)
    assert len(contents(store, "o_leader")) == 1  # one reminder, however often the worker looks


def test_no_reminder_before_november_or_once_the_year_is_imported(ctx, store, clock, staff):
    at(clock, 2026, 10, 20, 10, 0)
    watch_calendar(ctx)
    assert contents(store, "o_leader") == []
    save(ctx, preview(ctx, NOTICE_2027.read_text(encoding="utf-8")), "test")
    at(clock, 2026, 11, 20, 10, 0)
    assert watch_calendar(ctx) == []
    assert contents(store, "o_leader") == []


# -- the console, without a browser (tests/test_console_browser.py drives it in Chromium) ---------------
@pytest.fixture()
def people(store):
    store.add_staff("王芳", "o_wang", "window")
    store.add_staff("张书记", "o_leader", "leader")
    for name in ("王芳", "张书记"):
        store.set_password(name, "secret-123")


def _signed_in(client, name):
    from tests.test_console import sign_in

    sign_in(client, name)
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/staff/").get_data(as_text=True))[1]


def test_the_console_previews_then_saves_and_asks_before_replacing(client, people, store):
    csrf = _signed_in(client, "张书记")
    text = NOTICE_2027.read_text(encoding="utf-8")
    shown = client.post("/staff/calendar/preview", data={"csrf": csrf, "text": text}).get_data(as_text=True)
    assert "2027-02-12" in shown and "确认保存2027年安排" in shown and CalendarStore(store).years() == []
    assert client.post("/staff/calendar/save", data={"csrf": csrf, "text": text}).status_code == 302
    assert CalendarStore(store).year(2027)["by"] == "张书记"
    again = client.post("/staff/calendar/save", data={"csrf": csrf, "text": text})
    assert again.status_code == 409 and "替换原有安排" in again.get_data(as_text=True)
    assert CalendarStore(store).version() == 1
    assert client.post("/staff/calendar/save", data={"csrf": csrf, "text": text, "replace": "yes"}).status_code == 302
    assert CalendarStore(store).version() == 2


def test_the_console_names_the_line_of_a_malformed_notice_and_saves_nothing(client, people, store):
    csrf = _signed_in(client, "张书记")
    bad = NOTICE_2027.read_text(encoding="utf-8").replace("五、端午节", "五、端五节")
    res = client.post("/staff/calendar/save", data={"csrf": csrf, "text": bad})
    assert res.status_code == 400 and "第17行" in res.get_data(as_text=True) and CalendarStore(store).years() == []
    assert client.post("/staff/calendar/preview", data={"csrf": csrf, "text": "x" * 30000}).status_code in (400, 413)


def test_the_calendar_page_is_for_leaders_and_checks_csrf(client, people, store):
    csrf = _signed_in(client, "王芳")
    assert client.get("/staff/calendar").status_code == 403
    text = NOTICE_2027.read_text(encoding="utf-8")
    assert client.post("/staff/calendar/save", data={"csrf": csrf, "text": text}).status_code == 403
    client.post("/staff/logout", data={"csrf": csrf})
    csrf = _signed_in(client, "张书记")
    assert client.post("/staff/calendar/save", data={"text": text}).status_code == 400  # no CSRF token
    assert CalendarStore(store).years() == []


def test_the_today_page_warns_of_a_year_not_imported(client, people, clock):
    at(clock, 2026, 12, 3, 10, 0)
    _signed_in(client, "张书记")
    assert "2027年的放假调休安排尚未导入" in client.get("/staff/").get_data(as_text=True)
    at(clock, 2026, 6, 1, 10, 0)
    assert "尚未导入" not in client.get("/staff/").get_data(as_text=True)


def test_bookings_an_earlier_release_took_on_new_years_day_are_cancelled_once(chat, store, clock, ctx, staff):
    at(clock, 2026, 12, 28, 10, 0)
    code = "J27010101"
    booking = {"resource": "gym", "day": "20270101", "date": "2027-01-01", "slot": "0900", "start": "09:00",
               "end": "10:00", "starts": dt.datetime(2027, 1, 1, 9, 0, tzinfo=clock.now().tzinfo).timestamp(),
               "openid": "o_early", "name": "张三", "phone": "13800138000", "status": "confirmed",
               "created": clock.timestamp()}  # as the release before this one confirmed it
    result = store.bookings.book("gym", "J", "20270101", "0900", "o_early", booking, 10, 1, "early")
    code = result.code
    chat.send("你好", user="o_early")  # inside WeChat's 48-hour window
    watch_calendar(ctx)
    assert run_jobs(ctx) >= 1
    assert store.bookings.get(code, {"J": "gym"})["status"] == "cancelled"
    assert "元旦" in contents(store, "o_early")[-1]
    jobs_before = store.jobs()
    watch_calendar(ctx)  # once only
    assert store.jobs() == jobs_before

"""A year the packages do not list (2027 as seen in December 2026): the statutory holidays by law are
closed and named, through the signed webhook; what only the State Council's notice decides is said to be
not yet published; dates outside the supported range get a polite answer."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from knowledge.calendar import WorkCalendar
from knowledge.holiday_law import statutory_days

NUMBER = re.compile(r"编号：([A-Z]{2}\d{8}-\d{4,})")


def at(clock, *args):
    clock.set(dt.datetime(*args))


def test_the_law_gives_2027_its_eleven_days_off_with_their_names():
    days = statutory_days(2027)
    assert days == {
        dt.date(2027, 1, 1): "元旦",
        dt.date(2027, 2, 5): "春节", dt.date(2027, 2, 6): "春节", dt.date(2027, 2, 7): "春节",
        dt.date(2027, 2, 8): "春节",  # 除夕 to 正月初三
        dt.date(2027, 4, 5): "清明节",
        dt.date(2027, 5, 1): "劳动节", dt.date(2027, 5, 2): "劳动节",
        dt.date(2027, 6, 9): "端午节", dt.date(2027, 9, 15): "中秋节",
        dt.date(2027, 10, 1): "国庆节", dt.date(2027, 10, 2): "国庆节", dt.date(2027, 10, 3): "国庆节",
    }
    assert len(statutory_days(2099)) == 13 and statutory_days(2101) == {}


def test_2027_new_years_day_is_closed_and_named(chat, clock):
    at(clock, 2026, 12, 3, 10, 0)
    reply = chat.send("2027年1月1日开门吗")
    assert "2027年1月1日" in reply and "元旦" in reply and "法定节假日" in reply and "中心休息" in reply
    assert "尚未公布" in reply and "工作日" not in reply.split("。")[0]


@pytest.mark.parametrize("asked,name", [
    ("2027年10月1日上班吗", "国庆节"), ("2027年2月8日能去办事吗", "春节"), ("2027年2月5日开门吗", "春节"),
    ("2027年4月5日开门吗", "清明节"), ("2027年5月1日开门吗", "劳动节"), ("2027年6月9日开门吗", "端午节"),
    ("2027年9月15日开门吗", "中秋节"),
])
def test_every_statutory_holiday_of_2027_is_answered_closed_with_its_name(chat, clock, asked, name):
    at(clock, 2026, 12, 3, 10, 0)
    reply = chat.send(asked, user="o_" + name)
    assert name in reply and "法定节假日" in reply and "休息" in reply, reply


def test_an_ordinary_wednesday_of_2027_is_open_with_the_note_that_the_arrangement_is_not_published(chat, clock):
    at(clock, 2026, 12, 3, 10, 0)
    reply = chat.send("2027年3月10日开门吗")
    assert "星期三" in reply and "正常办公" in reply
    assert "2027年的放假调休安排国务院办公厅尚未公布" in reply


def test_a_festival_question_for_an_unlisted_year_gives_the_days_of_the_law(chat, clock):
    at(clock, 2026, 12, 3, 10, 0)
    reply = chat.send("春节开门吗")
    assert "2027年2月5日至2月8日" in reply and "共4天" in reply and "尚未公布" in reply


def test_booking_refuses_a_statutory_holiday_of_an_unlisted_year(chat, clock):
    at(clock, 2026, 12, 28, 10, 0)  # Monday; the gym books 14 days ahead
    reply = chat.send("预约 健身房 2027年1月1日 上午9点 张三 13800138000")
    assert "元旦" in reply and "法定节假日" in reply and "不能预约" in reply and "预约成功" not in reply
    assert "12月31日" in reply and "1月4日" in reply  # the nearest open days are offered instead
    assert "1月1日" not in reply.split("不能预约")[1]


def test_a_record_due_across_new_years_day_of_an_unlisted_year_skips_it(chat, store, clock):
    store.add_staff("王芳", "o_wang", role="window")
    store.add_staff("李强", "o_li", role="window", backup="王芳")
    at(clock, 2026, 12, 30, 10, 0)  # Wednesday; a help request is due in 7 working days
    chat.send("我要求助", user="o_help")
    chat.send("家里老人摔倒了需要帮忙联系医院", user="o_help")
    chat.send("张三", user="o_help")
    done = chat.send("13800138000", user="o_help")
    record = store.records.get(NUMBER.search(done)[1])
    due = dt.datetime.fromtimestamp(float(record["due"]), clock.now().tzinfo).date()
    # 12-31, (1-1 元旦 off, weekend), 1-4, 1-5, 1-6, 1-7, 1-8, 1-11
    assert due == dt.date(2027, 1, 11)


def test_reminders_are_not_scheduled_on_new_years_day(kb):
    cal = WorkCalendar(kb.center)
    opening = cal.next_opening(dt.datetime(2026, 12, 31, 18, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))))
    assert opening.date() == dt.date(2027, 1, 4)


@pytest.mark.parametrize("asked", ["2150年1月1日开门吗", "1990年10月1日上班吗", "9999年12月31日开门吗"])
def test_a_date_outside_the_supported_range_gets_a_polite_answer(chat, asked):
    reply = chat.send(asked)
    assert "超出了中心日历能查询的范围" in reply and "2004年至2100年" in reply


def test_a_booking_far_beyond_the_range_is_refused_politely(chat):
    reply = chat.send("预约 健身房 9999年12月31日 上午9点 张三 13800138000")
    assert "预约成功" not in reply and chat.last_response.status_code == 200

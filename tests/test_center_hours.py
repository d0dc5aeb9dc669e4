"""Hours and location questions, answered for the actual date: holidays, make-up workdays, next opening."""
from __future__ import annotations

import datetime as dt

import pytest

from handlers.when import parse_day
from knowledge.calendar import WorkCalendar
from knowledge.schema import CalendarYear


def at(clock, *args):
    clock.set(dt.datetime(*args))


def test_saturday_is_closed_on_an_ordinary_week(chat, clock):
    at(clock, 2026, 11, 22, 10, 0)  # Sunday; the coming Saturday is 2026-11-28
    reply = chat.send("周六开门吗")
    assert "11月28日" in reply and "星期六" in reply
    assert "不开门" in reply or "休息" in reply


def test_saturday_that_is_a_make_up_workday_is_open(chat, clock):
    at(clock, 2026, 10, 5, 10, 0)  # National Day week; Saturday 2026-10-10 is a make-up workday
    reply = chat.send("周六开门吗")
    assert "10月10日" in reply and "调休上班" in reply and "正常办公" in reply


def test_a_weekday_inside_the_national_day_holiday_is_closed(chat, clock):
    at(clock, 2026, 9, 30, 10, 0)
    reply = chat.send("明天上班吗")
    assert "10月1日" in reply and "国庆节" in reply and "休息" in reply


def test_festival_question_lists_the_days_off(chat, clock):
    at(clock, 2026, 9, 20, 10, 0)
    reply = chat.send("国庆节开门吗")
    assert "10月1日至10月7日" in reply and "休息" in reply


def test_after_hours_the_answer_says_when_the_center_opens_next(chat, clock):
    at(clock, 2026, 11, 27, 18, 0)  # Friday evening
    reply = chat.send("几点上班")
    assert "现在不在办公时间" in reply and "11月30日" in reply and "9:00" in reply


def test_in_office_hours_the_answer_says_it_is_open_now(chat, clock):
    at(clock, 2026, 11, 23, 15, 0)
    assert "现在是办公时间" in chat.send("你们几点下班")


def test_lunch_break_is_not_office_hours(chat, clock):
    at(clock, 2026, 11, 23, 12, 30)
    reply = chat.send("现在开门吗")
    assert "现在不在办公时间" in reply and "14:00" in reply


def test_where_is_the_center(chat, kb):
    reply = chat.send("中心在哪")
    assert kb.center.address in reply


def test_phone_numbers(chat, kb):
    reply = chat.send("中心电话")
    assert kb.center.phones.consult in reply and kb.center.phones.complaint in reply


@pytest.mark.parametrize("text, expected", [
    ("今天", dt.date(2026, 11, 22)),
    ("明天开门吗", dt.date(2026, 11, 23)),
    ("后天", dt.date(2026, 11, 24)),
    ("周三", dt.date(2026, 11, 25)),
    ("星期日", dt.date(2026, 11, 22)),
    ("下周三", dt.date(2026, 11, 25)),  # Sunday ends the week: 下周 starts tomorrow
    ("下下周一", dt.date(2026, 11, 30)),
    ("11月25日", dt.date(2026, 11, 25)),
    ("2026-12-01", dt.date(2026, 12, 1)),
    ("1月2号", dt.date(2027, 1, 2)),
    ("几点上班", None),
])
def test_parse_day_understands_how_people_write_dates(text, expected):
    assert parse_day(text, dt.date(2026, 11, 22)) == expected


def test_a_year_the_calendar_package_does_not_know_falls_back_to_weekdays(kb, caplog):
    cal = WorkCalendar(kb.center)
    assert cal.is_workday(dt.date(2031, 1, 6))  # a Monday
    assert not cal.is_workday(dt.date(2031, 1, 4))  # a Saturday
    assert not cal.day(dt.date(2031, 1, 6)).known
    assert "2031" in caplog.text


def test_center_yaml_can_list_the_holidays_of_an_unknown_year(kb):
    center = kb.center.model_copy(update={"calendar": {2031: CalendarYear(
        holidays=[dt.date(2031, 1, 1)], workdays=[dt.date(2031, 1, 4)])}})
    cal = WorkCalendar(center)
    assert not cal.is_workday(dt.date(2031, 1, 1))
    assert cal.is_workday(dt.date(2031, 1, 4))  # a Saturday made a workday
    assert cal.day(dt.date(2031, 1, 4)).makeup


def test_working_days_skip_holidays_and_count_make_up_days(kb):
    cal = WorkCalendar(kb.center)
    # From Tuesday 2026-09-29: 9-30 is the last working day before the 10-01..10-07 break; then
    # 10-08 (Thu), 10-09 (Fri) and 10-10 (a make-up Saturday)
    assert cal.add_working_days(dt.date(2026, 9, 29), 1) == dt.date(2026, 9, 30)
    assert cal.add_working_days(dt.date(2026, 9, 29), 2) == dt.date(2026, 10, 8)
    assert cal.add_working_days(dt.date(2026, 9, 29), 4) == dt.date(2026, 10, 10)

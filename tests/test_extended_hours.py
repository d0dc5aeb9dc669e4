"""A citizen's preferred time for a window appointment is checked against the center's office hours and
its extended hours (延时服务, center.yaml hours.extended), through the signed webhook: a time outside
them gets a polite answer with the nearest valid times, one of which the citizen picks by number."""
from __future__ import annotations

import datetime as dt

from tests.test_records import last, number_of
from tests import test_rules

staff = test_rules.staff  # the sample center's roster (a fixture)


def ask(chat, text, user="o_late"):
    return chat.send(text, user=user)


def test_the_sample_center_serves_by_appointment_at_lunch_after_work_and_on_saturday_mornings(ctx):
    periods = ctx.calendar.service_periods
    assert periods(dt.date(2026, 11, 24)) == [(dt.time(9), dt.time(19))]  # office hours and 延时服务 touch
    assert periods(dt.date(2026, 11, 28)) == [(dt.time(9), dt.time(12))]  # Saturday: extended only
    assert periods(dt.date(2026, 11, 29)) == []  # Sunday
    assert periods(dt.date(2027, 1, 1)) == []  # 元旦, a Friday


def test_a_time_outside_office_and_extended_hours_gets_the_nearest_valid_times_and_one_is_picked_by_number(
        chat, store, staff, clock):
    first = ask(chat, "能不能约个延时服务办低保，周日上午来")
    assert "周日上午" in first and "不在中心的办公时间或延时服务时间内" in first and "抱歉" in first
    assert "延时服务（需预约）：周一至周五 12:00—14:00、17:30—19:00；周六 09:00—12:00" in first
    assert "1. 11月27日09:00（星期五）\n2. 11月28日09:00（星期六）\n3. 11月30日09:00（星期一）" in first
    assert "姓名" in ask(chat, "2")
    ask(chat, "王大妈")
    done = ask(chat, "13700001111")
    no = number_of(done)
    assert store.records.get(no)["wanted"] == "11月28日09:00" and "希望时间：11月28日09:00" in done
    chat.send(f"确认 {no}", user="o_zhao")  # the window confirms the time the citizen picked
    assert "已确认：11月28日09:00" in last(store, "o_late")


def test_an_evening_too_late_even_for_extended_hours_is_offered_the_nearest_evenings(chat, staff):
    ask(chat, "我想预约办理低保")
    reply = ask(chat, "明天晚上8点")
    assert "明天晚上8点" in reply and "抱歉" in reply
    assert "1. 11月23日18:30（星期一）\n2. 11月24日18:30（星期二）\n3. 11月25日18:30（星期三）" in reply


def test_a_holiday_is_named_when_the_preferred_day_falls_on_it(chat, staff):
    reply = ask(chat, "我白天要上班，1月1日上午能来延时办理低保吗")
    assert "是元旦假期，中心休息" in reply
    assert "12月31日" in reply and "1月1日09" not in reply


def test_times_within_office_or_extended_hours_are_taken_as_said(chat, store, staff):
    for user, when in (("o_a", "周六上午9点"), ("o_b", "明天18:00"), ("o_c", "明天中午12点半"), ("o_d", "下班以后")):
        ask(chat, "能不能约个延时服务办低保", user=user)
        assert "姓名" in ask(chat, when, user=user), when
        ask(chat, "王大妈", user=user)
        no = number_of(ask(chat, "13700001111", user=user))
        assert store.records.get(no)["wanted"] == when


def test_a_citizen_who_insists_on_a_closed_time_is_recorded_after_two_answers_never_trapped(
        chat, store, staff):
    ask(chat, "能不能约个延时服务办低保")
    assert "抱歉" in ask(chat, "周日上午")
    assert "抱歉" in ask(chat, "周日下午")
    assert "姓名" in ask(chat, "周日晚上")  # the window will agree another time with the citizen
    ask(chat, "王大妈")
    no = number_of(ask(chat, "13700001111"))
    assert store.records.get(no)["wanted"] == "周日晚上"


def test_cancel_ends_the_appointment_after_an_out_of_hours_answer(chat, store, staff):
    ask(chat, "能不能约个延时服务办低保")
    ask(chat, "周日上午")
    assert "取消" in ask(chat, "取消")
    assert store.records.of_user("o_late") == []


def test_a_question_about_lunchtime_says_the_window_serves_then_by_appointment(chat):
    reply = ask(chat, "中午12点到2点能办事吗", user="o_noon")
    assert "不在办公时间（中午休息）" in reply and "延时服务时间内" in reply and "预约延时服务" in reply
    assert "延时服务（需提前预约" in reply and "周一至周五 12:00—14:00、17:30—19:00" in reply


def test_saturday_is_a_day_off_with_extended_service_by_appointment_and_sunday_is_not(chat):
    saturday = ask(chat, "11月28日开门吗", user="o_sat")
    assert "是休息日，中心不开门，但09:00—12:00可以预约延时服务" in saturday
    sunday = ask(chat, "11月29日开门吗", user="o_sun")
    assert "是休息日，中心不开门。" in sunday and "可以预约延时服务（" not in sunday


def test_预约延时服务_starts_the_appointment_the_hours_answer_points_to(chat):
    reply = ask(chat, "预约延时服务", user="o_book_late")
    assert "延时服务" in reply and "窗口" in reply

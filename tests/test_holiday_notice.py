"""The State Council's holiday notices of 2017-2026, read by knowledge.holiday_notice, agree day by day
with chinese-calendar; the wording variants and malformed notices."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import chinese_calendar
import pytest

from knowledge.holiday_notice import Notice, NoticeError, parse

NOTICES = Path(__file__).resolve().parent / "data" / "notices"
NAMES = {"New Year's Day": "元旦", "Spring Festival": "春节", "Tomb-sweeping Day": "清明节", "Labour Day": "劳动节",
         "Dragon Boat Festival": "端午节", "Mid-autumn Festival": "中秋节", "National Day": "国庆节"}


def notice_of(year: int) -> Notice:
    """The year's notice, with the notice that changed it later (2019's 劳动节, 2020's longer 春节)."""
    notice = parse((NOTICES / f"{year}.txt").read_text(encoding="utf-8"))
    amended = NOTICES / f"{year}-amended.txt"
    if amended.exists():
        notice = parse(amended.read_text(encoding="utf-8")).applied_to(notice)
    return notice


def closed(notice: Notice, day: dt.date) -> bool:
    return day in notice.holidays or (day.weekday() >= 5 and day not in notice.workdays)


@pytest.mark.parametrize("year", range(2017, 2027))
def test_each_notice_2017_to_2026_reproduces_chinese_calendar(year):
    notice = notice_of(year)
    assert notice.year == year
    if (NOTICES / f"{year + 1}.txt").exists():  # the next year's 元旦 may begin, or a make-up day fall, in December
        following = notice_of(year + 1)
        notice.holidays.update({d: n for d, n in following.holidays.items() if d.year == year})
        notice.workdays.update({d: n for d, n in following.workdays.items() if d.year == year})
    first = min([*notice.holidays, *notice.workdays, dt.date(year, 1, 1)])
    day = first
    while day <= dt.date(year, 12, 31):
        assert closed(notice, day) == chinese_calendar.is_holiday(day), day
        assert (day in notice.workdays) == (day in chinese_calendar.workdays), day
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
        if day in chinese_calendar.holidays:  # the package's named days off carry the notice's name
            assert NAMES[name] in notice.holidays[day].split("、"), (day, name, notice.holidays[day])
        day += dt.timedelta(days=1)


def test_the_wording_of_2017_is_read():
    notice = notice_of(2017)
    assert notice.holidays[dt.date(2017, 1, 2)] == "元旦"  # "1月2日（星期一）补休"
    assert notice.holidays[dt.date(2017, 4, 29)] == "劳动节"  # "与周末连休"
    assert notice.holidays[dt.date(2017, 10, 4)] == "中秋节、国庆节"  # one line for both
    assert notice.workdays[dt.date(2017, 9, 30)] == "中秋节、国庆节"


def test_the_wording_of_2026_is_read():
    notice = notice_of(2026)
    spring = [d for d, n in notice.holidays.items() if n == "春节"]
    assert spring[0] == dt.date(2026, 2, 15) and spring[-1] == dt.date(2026, 2, 23) and len(spring) == 9
    assert notice.workdays == {dt.date(2026, 1, 4): "元旦", dt.date(2026, 2, 14): "春节", dt.date(2026, 2, 28): "春节",
                               dt.date(2026, 5, 9): "劳动节", dt.date(2026, 9, 20): "国庆节",
                               dt.date(2026, 10, 10): "国庆节"}


def test_a_traditional_repost_with_ascii_brackets_is_read_like_the_original():
    original = (NOTICES / "2026.txt").read_text(encoding="utf-8")
    import opencc

    repost = opencc.OpenCC("s2t").convert(original).replace("（", "(").replace("）", ")").replace("：", ":")
    assert "勞動節" in repost and "(週四)" in repost
    assert parse(repost).to_json() == parse(original).to_json()
    assert parse((NOTICES / "2023.txt").read_text(encoding="utf-8")).holidays[dt.date(2022, 12, 31)] == "元旦"


def test_a_sentence_that_is_not_an_arrangement_is_shown_not_guessed():
    notice = notice_of(2024)
    assert dt.date(2024, 2, 9) not in notice.holidays  # "鼓励……安排职工在除夕（2月9日）休息"
    assert notice.unread and "除夕（2月9日）" in notice.unread[0][1] and notice.unread[0][0] == 10


def _broken(old: str, new: str) -> str:
    text = (NOTICES / "2026.txt").read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new)


@pytest.mark.parametrize("old,new,line,says", [
    ("至3日（周六）放假调休，共3天", "至3日（周六）放假调休，共4天", 7, "共4天"),
    ("1月1日（周四）", "1月1日（周五）", 7, "星期四"),
    ("五、端午节：6月19日", "五、端五节：6月19日", 15, "端五节"),
    ("2月28日（周六）上班", "2月30日上班", 9, "2月30日"),
    ("三、清明节：4月4日（周六）至6日（周一）放假，共3天。", "三、清明节4月4日放假", 11, "看不懂"),
])
def test_a_malformed_notice_gets_an_error_naming_the_line(old, new, line, says):
    with pytest.raises(NoticeError) as caught:
        parse(_broken(old, new))
    assert caught.value.line == line and f"第{line}行" in str(caught.value) and says in str(caught.value)


def test_a_notice_cut_short_is_refused():
    text = (NOTICES / "2026.txt").read_text(encoding="utf-8")
    with pytest.raises(NoticeError, match="缺少.*国庆节"):
        parse(text.split("七、国庆节")[0])
    with pytest.raises(NoticeError, match="年份"):
        parse("一、元旦：1月1日放假。")
    with pytest.raises(NoticeError, match="没有找到放假安排"):
        parse("国务院办公厅关于2027年部分节假日安排的通知\n各省、自治区、直辖市人民政府：")

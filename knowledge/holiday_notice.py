"""Reads the State Council's yearly holiday notice (国务院办公厅关于YYYY年部分节假日安排的通知) into named
days off and make-up working days, with every sentence it could not read, or an error naming the line.

Pure: text in, `Notice` out. The wording has varied over the years and all of it is read:
  "一、元旦：1月1日放假，1月2日（星期一）补休。"                       (2017)
  "四、劳动节：5月1日放假，与周末连休。"                                (2017-2024)
  "六、中秋节、国庆节：10月1日至8日放假调休，共8天。9月30日（星期六）上班。"
  "一、元旦：2018年12月30日至2019年1月1日放假调休，共3天。2018年12月29日（星期六）上班。"
  "二、春节：2月15日（农历腊月二十八、周日）至23日（农历正月初七、周一）放假调休，共9天。"   (2026)
and reposts in traditional characters (read through OpenCC) or with ASCII brackets and colons. The two
notices that changed a year already announced are read too: "关于调整2019年劳动节假期安排的通知"
(the holiday's days replaced) and "关于延长2020年春节假期的通知" (the holiday extended to a day); such a
notice is applied to the year's first one with `Notice.applied_to`.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import lru_cache

HOLIDAYS = ("元旦", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节")
_WEEKDAYS = "一二三四五六日"
_NUMERAL = "一二三四五六七八九十"
_ITEM = re.compile(rf"^([{_NUMERAL}]{{1,3}})、(.*)$")
_ITEM_START = re.compile(rf"(?<!^)(?=[{_NUMERAL}]{{1,3}}、(?:元旦|春节|清明|劳动|端午|中秋|国庆|延长|\d{{4}}年))")
_DATE = re.compile(r"(?:(\d{4})年)?(\d{1,2})月(\d{1,2})日")
# a range's end may leave out the year and the month: "1月27日至2月2日", "4月2日至4日"
_RANGE = re.compile(r"(?:(\d{4})年)?(\d{1,2})月(\d{1,2})日至(?:(\d{4})年)?(?:(\d{1,2})月)?(\d{1,2})日")
_PAREN = re.compile(r"（[^（）]*）")
_NOTE_WEEKDAY = re.compile(r"(?:星期|周)([一二三四五六日天])")
_DAYS = re.compile(r"共(\d+)天")
_TITLE_YEAR = re.compile(r"(?:关于|现将)(调整|延长)?(\d{4})年")
_EXTEND = re.compile(r"延长(?:\d{4}年)?(元旦|春节|清明节|劳动节|端午节|中秋节|国庆节)假期至")
_ASCII = str.maketrans({"(": "（", ")": "）", ":": "：", ",": "，", ";": "；", " ": "", "\u3000": "", "\t": ""})


class NoticeError(ValueError):
    """The text cannot be read as a notice; `line` (1-based, 0 for the text as a whole) says where."""

    def __init__(self, line: int, message: str):
        super().__init__(f"第{line}行：{message}" if line else message)
        self.line = line
        self.message = message


@dataclass
class Notice:
    """One notice read: its year, days off by holiday name, make-up working days (调休上班), the sentences
    with dates that are not an arrangement (shown to the administrator), and for a notice that changes
    an earlier one, which holiday it changes (`amends`) or extends (`extends`: name -> last day off)."""

    year: int
    holidays: dict[dt.date, str] = field(default_factory=dict)
    workdays: dict[dt.date, str] = field(default_factory=dict)
    unread: list[tuple[int, str]] = field(default_factory=list)
    amends: str | None = None
    extends: dict[str, dt.date] = field(default_factory=dict)

    @property
    def is_amendment(self) -> bool:
        return self.amends is not None or bool(self.extends)

    def applied_to(self, base: "Notice") -> "Notice":
        """The year's arrangement after this amending notice: `base` with the holiday replaced or extended."""
        if not self.is_amendment:
            return self
        if base.year != self.year:
            raise NoticeError(0, f"这份调整通知是{self.year}年的，不能用于{base.year}年的安排")
        holidays, workdays = dict(base.holidays), dict(base.workdays)
        replaced = {name for name in self.holidays.values()} | {self.amends} - {None}
        for name in replaced:
            holidays = {d: n for d, n in holidays.items() if name not in n.split("、")}
            workdays = {d: n for d, n in workdays.items() if name not in n.split("、")}
        holidays.update(self.holidays)
        workdays.update(self.workdays)
        for name, until in self.extends.items():
            days = [d for d, n in holidays.items() if name in n.split("、")]
            if not days:
                raise NoticeError(0, f"{base.year}年的安排里没有{name}，无法延长")
            day = max(days)
            while day < until:
                day += dt.timedelta(days=1)
                holidays[day] = name
                workdays.pop(day, None)
        return Notice(base.year, dict(sorted(holidays.items())), dict(sorted(workdays.items())),
                      base.unread + self.unread)

    def table(self) -> list[tuple[dt.date, str, str]]:
        """(date, 放假/上班, holiday name) for every day, in date order: what the administrator confirms."""
        rows = [(d, "放假", n) for d, n in self.holidays.items()] + [(d, "上班", n) for d, n in self.workdays.items()]
        return sorted(rows)

    def to_json(self) -> dict:
        return {"year": self.year, "holidays": {d.isoformat(): n for d, n in sorted(self.holidays.items())},
                "workdays": {d.isoformat(): n for d, n in sorted(self.workdays.items())}}


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def normalize(text: str) -> str:
    """Simplified characters, full-width brackets and colons, no spaces: one spelling for every repost."""
    text = _t2s().convert(text).translate(_ASCII)
    return text.replace("週", "周").replace("星期天", "星期日").replace("周天", "周日")


def parse(text: str) -> Notice:
    """Read a notice; raises NoticeError naming the line for anything that makes the arrangement unsure."""
    lines = [normalize(line) for line in text.splitlines()]
    year, kind = _year(lines)
    notice = Notice(year)
    if kind == "调整":
        notice.amends = next((h for line in lines[:8] for h in HOLIDAYS if h in line and "调整" in line), None)
        if notice.amends is None:
            raise NoticeError(0, "这是一份调整通知，但没有写明调整哪个节日")
    items = 0
    for number, line in enumerate(lines, start=1):
        for part in _ITEM_START.split(line):
            m = _ITEM.match(part)
            if not m:
                continue
            items += _item(notice, number, m[2])
    if not items:
        raise NoticeError(0, "没有找到放假安排：通知应有“一、元旦：1月1日放假……”这样的条目")
    if not notice.is_amendment:
        missing = [h for h in HOLIDAYS if h not in {n for v in notice.holidays.values() for n in v.split("、")}]
        if missing:
            raise NoticeError(0, f"通知缺少{'、'.join(missing)}的安排：请粘贴完整的通知全文")
    clash = sorted(set(notice.holidays) & set(notice.workdays))
    if clash:
        raise NoticeError(0, f"{_cn(clash[0])}既写了放假又写了上班")
    notice.holidays = dict(sorted(notice.holidays.items()))
    notice.workdays = dict(sorted(notice.workdays.items()))
    return notice


def _year(lines: list[str]) -> tuple[int, str | None]:
    for line in lines[:12]:
        m = _TITLE_YEAR.search(line)
        if m:
            return int(m[2]), m[1]
    for line in lines[:12]:
        m = re.search(r"(\d{4})年(?:元旦|部分节假日)", line)
        if m:
            return int(m[1]), None
    raise NoticeError(1, "找不到通知的年份：请从标题“国务院办公厅关于XXXX年部分节假日安排的通知”开始粘贴")


def _item(notice: Notice, number: int, body: str) -> int:
    """Read one numbered item ("元旦：…"); 1 when it is an arrangement, 0 for other numbered text."""
    m = _EXTEND.search(body)
    if m:
        until = _dates(body[m.end():], notice.year, number)
        if not until:
            raise NoticeError(number, f"“{body}”没有写明延长到哪一天")
        notice.extends[m[1]] = until[0]
        return 1
    head, sep, rest = body.partition("：")
    names: list[str]
    if sep and len(head) <= 12:
        names = [n for n in re.split(r"[、和及]", head) if n]
        unknown = [n for n in names if n not in HOLIDAYS]
        if unknown:
            raise NoticeError(number, f"不认识的节日“{unknown[0]}”（应为{'、'.join(HOLIDAYS)}之一）")
    elif notice.amends and _DATE.search(body):
        names, rest = [notice.amends], body
    elif _DATE.search(body) and not notice.is_amendment:
        raise NoticeError(number, f"看不懂这一条：应写作“元旦：1月1日放假……”，这里是“{body}”")
    else:
        return 0  # a numbered paragraph without days, e.g. the duties in an amending notice
    name = "、".join(names)
    off: set[dt.date] = set()
    for sentence in filter(None, rest.split("。")):
        _sentence(notice, number, sentence, name, off)
    if not off:
        raise NoticeError(number, f"没有读出{name}放假的日期：“{body}”")
    return 1


def _sentence(notice: Notice, number: int, sentence: str, name: str, off: set[dt.date]) -> None:
    _check_weekdays(sentence, notice.year, number)
    plain = _PAREN.sub("", sentence)
    if "放假" in plain or "补休" in plain:
        ranged = 0
        for clause in plain.split("，"):
            if "连休" in clause:
                _add_weekend(notice, off, name)
                continue
            m = _RANGE.search(clause)
            if m:
                start = _date(m[1], m[2], m[3], notice.year, number)
                end = _date(m[4] or (m[1] if not m[5] else None), m[5] or m[2], m[6], notice.year, number)
                if end < start or (end - start).days > 30:
                    raise NoticeError(number, f"日期范围“{m[0]}”不对")
                day = start
                while day <= end:
                    off.add(day)
                    notice.holidays[day] = name
                    ranged += 1
                    day += dt.timedelta(days=1)
            elif "放假" in clause or "补休" in clause:
                for day in _dates(clause, notice.year, number):
                    off.add(day)
                    notice.holidays[day] = name
                    ranged += 1
            else:
                count = _DAYS.search(clause)
                if count and int(count[1]) != ranged:
                    raise NoticeError(number, f"写的是共{count[1]}天，但日期算出来是{ranged}天")
    elif "上班" in plain:
        if "起正常上班" in plain or "起上班" in plain:
            return  # "2月3日（星期一）起正常上班": the end of a break, not a make-up day
        days = _dates(plain, notice.year, number)
        if not days:
            raise NoticeError(number, f"没有读出上班的日期：“{sentence}”")
        for day in days:
            notice.workdays[day] = name
    elif _DATE.search(sentence):
        notice.unread.append((number, sentence + "。"))


def _add_weekend(notice: Notice, off: set[dt.date], name: str) -> None:
    """"与周末连休": the weekend days next to the days off are part of the break."""
    for day in sorted(off):
        for step in (-1, 1):
            other = day + dt.timedelta(days=step)
            while other.weekday() >= 5 and other not in notice.workdays:
                if other not in off:
                    off.add(other)
                    notice.holidays[other] = name
                other += dt.timedelta(days=step)


def _dates(text: str, year: int, number: int) -> list[dt.date]:
    return [_date(m[1], m[2], m[3], year, number) for m in _DATE.finditer(text)]


def _date(year_text: str | None, month: str, day: str, year: int, number: int) -> dt.date:
    y = int(year_text) if year_text else year
    try:
        date = dt.date(y, int(month), int(day))
    except ValueError:
        raise NoticeError(number, f"没有{month}月{day}日这一天") from None
    if not dt.date(year - 1, 12, 1) <= date <= dt.date(year, 12, 31):
        raise NoticeError(number, f"{_cn(date)}不在{year}年的安排范围内")
    return date


def _check_weekdays(sentence: str, year: int, number: int) -> None:
    """"1月1日（周四）": the weekday written must be the date's, or the date was mistyped."""
    last: dt.date | None = None
    for m in re.finditer(r"(?:(\d{4})年)?(?:(\d{1,2})月)?(\d{1,2})日（([^（）]*)）", sentence):
        month = m[2] or (str(last.month) if last else None)
        if month is None:
            continue
        y = int(m[1]) if m[1] else (last.year if last and not m[2] else year)
        try:
            date = dt.date(y, int(month), int(m[3]))
        except ValueError:
            raise NoticeError(number, f"没有{month}月{m[3]}日这一天") from None
        last = date
        w = _NOTE_WEEKDAY.search(m[4])
        if w:
            said = "日" if w[1] == "天" else w[1]
            if _WEEKDAYS[date.weekday()] != said:
                raise NoticeError(number, f"{_cn(date)}是星期{_WEEKDAYS[date.weekday()]}，通知里写的是“{w[0]}”")


def _cn(date: dt.date) -> str:
    return f"{date.year}年{date.month}月{date.day}日"

"""The days off fixed by law (全国年节及纪念日放假办法, as amended in 2024 and in force from 2025) for any
year: 元旦 1 January; 春节 除夕 to 正月初三; 清明节 (the solar term); 劳动节 1-2 May; 端午节 五月初五;
中秋节 八月十五; 国庆节 1-3 October.

The lunar dates and the solar term come from the `holidays` package's China calendar (its lunisolar
tables, not astronomy of our own), asked for the days of the law alone (`observed=False`: no guessed
substitute days). What only the State Council's yearly notice decides, the days added around a holiday
and the make-up working days, is not here: a year without its notice is said to be "not yet published".
"""
from __future__ import annotations

import datetime as dt
from functools import lru_cache

# chinese-calendar knows 2004 on; the holidays package's lunisolar tables end with 2100.
FIRST_YEAR, LAST_YEAR = 2004, 2100

# the package's Chinese names, in the words a citizen uses (除夕 is the first day of 春节's four)
_NAMES = {"农历除夕": "春节", "春节": "春节", "元旦": "元旦", "清明节": "清明节", "劳动节": "劳动节",
          "端午节": "端午节", "中秋节": "中秋节", "国庆节": "国庆节"}


def supported(year: int) -> bool:
    return FIRST_YEAR <= year <= LAST_YEAR


@lru_cache(maxsize=256)
def statutory_days(year: int) -> dict[dt.date, str]:
    """The statutory days off of `year` by law, each with its holiday's name; {} outside the range."""
    if not supported(year):
        return {}
    import holidays

    found = holidays.China(years=year, observed=False, language="zh_CN")
    days: dict[dt.date, str] = {}
    for day, names in sorted(found.items()):
        words = [_NAMES.get(n.strip()) for n in names.split(";")]
        words = [w for w in dict.fromkeys(words) if w]
        if words:
            days[day] = "、".join(words)
    return days

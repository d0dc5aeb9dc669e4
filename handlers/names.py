"""Reads a citizen's name as people give it (周建国, 我叫欧阳春, 我姓周，叫建国, 阿依古丽·吐尔逊) and says
why a text is not a name (a question, a greeting, a sentence), Rasa-form style."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

SURNAMES_FILE = Path(__file__).resolve().parent.parent / "knowledge" / "data" / "surnames.txt"

_PREFIX = re.compile(r"^(我的名字是|我的名字叫|我名字叫|名字叫|名字是|姓名是|姓名为|我叫|我是|本人|名字|姓名|叫)[:：\s]*")
_SURNAME_FIRST = re.compile(r"^我姓([\u4e00-\u9fa5]{1,2})[，,、\s]*(?:名字?叫|叫|名)?([\u4e00-\u9fa5]{0,3})$")
_CORRECTION = re.compile(r"^(不对|错了|不是|说错了|写错了|打错了|更正一下|更正|改一下|改成|应该是|是)[，,。:：\s]*")
_PUNCT = re.compile(r"[\s。.!！~～,，]+$")
_CHINESE = re.compile(r"^[\u4e00-\u9fa5]+$")
_MINORITY = re.compile(r"^[\u4e00-\u9fa5]{1,8}(·[\u4e00-\u9fa5]{1,8}){1,3}$")
# words that make a short text a question, a greeting or a request rather than a name
_NOT_A_NAME = re.compile(r"吗|呢|吧|么|啥|怎|什么|哪|谁|几|多少|你|您|我|他|她|们|的|了|是|在|要|想|请|帮|"
                         r"谢谢|好的|没有|有没有|有人|不用|取消|预约|投诉|举报|求助|建议|开门|上班|下班|办理|咨询|"
                         r"查询|电话|地址|今天|明天|后天|上午|下午|晚上|中午|星期|礼拜")
_DAY_WORD = re.compile(r"^(周|星期|礼拜)[一二三四五六日天末]$")


@lru_cache(maxsize=1)
def surnames() -> tuple[frozenset[str], frozenset[str]]:
    """(single, compound) surnames from the data file."""
    single, compound = set(), set()
    for line in SURNAMES_FILE.read_text(encoding="utf-8").splitlines():
        for word in line.split("#", 1)[0].split():
            (single if len(word) == 1 else compound).add(word)
    return frozenset(single), frozenset(compound)


def surname_of(name: str) -> str | None:
    single, compound = surnames()
    if len(name) >= 3 and name[:2] in compound:
        return name[:2]
    if name[:1] in single:
        return name[:1]
    return None


def strip_correction(text: str) -> str:
    """不对，我叫周建华 -> 我叫周建华."""
    return _CORRECTION.sub("", text.strip(), count=1)


def read_name(text: str) -> tuple[str | None, str]:
    """(the name, "") when the text gives one; (None, why not) otherwise."""
    text = _PUNCT.sub("", text.strip())
    m = _SURNAME_FIRST.match(text)
    if m:
        surname, given = m[1], m[2]
        text = given if given.startswith(surname) else surname + given
    else:
        text = _PREFIX.sub("", text, count=1)
    if _MINORITY.match(text):
        return text, ""
    if not _CHINESE.match(text):
        return None, "姓名请用汉字书写"
    if len(text) < 2:
        return None, "姓名至少两个字"
    if len(text) > 5:
        return None, "这看起来是一句话，不像姓名"
    if _NOT_A_NAME.search(text) or _DAY_WORD.match(text):
        return None, "这看起来不像姓名"
    if surname_of(text) is None:
        return None, f"“{text[0]}”不是常见的姓氏"
    if len(text) == 5 and len(surname_of(text) or "") < 2:
        return None, "这看起来不像姓名"
    return text, ""

"""How the matcher reads a text: a message's courtesy dropped, the text normalized (full-width,
traditional characters, fillers, Chinese numerals), tone-less pinyin codes for homophones, typed
pinyin read as characters, character pairs, and how well one term fits a question (rapidfuzz)."""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import opencc
from pypinyin import lazy_pinyin
from rapidfuzz import fuzz

# Words that carry no meaning for matching; longest first so 怎么办 goes before 怎么. Colloquial and
# dialect forms too: 咋个/啥子 (south-west), 哪儿/哪块, and 那个/这个 said while looking for a word.
FILLERS = sorted(
    """请问 你好 您好 我想 我要 想要 想问 问一下 问下 咨询 一下 怎么办理 怎么办 怎么样 怎么弄 怎么搞 怎么 咋办 咋弄
    咋整 咋个 咋 如何 怎样 需要 需不需要 要不要 什么 啥子 啥 哪些 哪个 哪里 哪儿 哪块 在哪 那个 这个 吗 呢 吧
    啊 呀 哈 嘛 噻 嘞 咯 哦 嗯 的 办理 手续 流程 可以 能不能 能否 谢谢""".split(),
    key=len,
    reverse=True,
)
# 了 is a filler except in 不了 (cannot: 刷不了脸) and 了解 (to learn about)
_LE = re.compile(r"(?<!不)了(?!解)")
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)
# The courtesy of a message to a government platform, which says nothing of what is asked: openers
# (尊敬的领导您好, 书记好, 打扰了), a self-introduction as a villager or resident, closers (谢谢,
# 麻烦您告知一下, 盼复, 希望尽快答复, 在线等) and a trailing 急.
_COURTESY = re.compile(
    r"尊敬的[^，,。！!？?\s]{0,6}?(?:领导|同志|工作人员|书记|镇长|主任)"
    r"|(?:各位)?(?:领导|书记|镇长|主任|工作人员|同志|老师)(?:您好|你好|好)|您好|你好|大家好"
    r"|(?:我|本人)是[^，,。！!？?\s]{0,12}?(?:村民|居民|群众|市民)"
    r"|打扰(?:一下|了|您了|您)?|冒昧(?:问一下)?"
    r"|(?:非常|十分)?(?:谢谢|感谢|多谢)(?:您|你|你们|领导|了)?"
    r"|麻烦(?:您|你|你们|领导)(?:告知|回复|答复|解答|说明)?(?:一下)?|麻烦(?:告知|回复|答复|解答)(?:一下)?"
    r"|(?:希望|望|盼|请|恳请)(?:尽快|早日|及时)?(?:给予|给个|给)?(?:答复|回复)|盼复|在线等"
    r"|[，,。！!？?\s]+(?:很急|着急|急+)[！!。.\s]*$")
_SEPARATOR_RUN = re.compile(r"[，,。！!？?；;\s]{2,}")
CLAUSES = re.compile(r"[，,。！!？?；;：:\s]+")
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
              "九": 9}
_CN_NUMBER = re.compile(r"[零〇一二两三四五六七八九十百]+(?=[岁个孩胎级天年月日号次周])")

@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def without_courtesy(text: str) -> str:
    """The message without its courtesy (see _COURTESY); a message of courtesy alone is kept as it is."""
    cleaned, count = _COURTESY.subn("，", text)
    if not count:
        return text
    cleaned = _SEPARATOR_RUN.sub(lambda m: "？" if "？" in m[0] or "?" in m[0] else "，", cleaned)
    return cleaned.strip("，,。！!；; ") or text


def cn_to_int(text: str) -> int | None:
    """一 -> 1, 十二 -> 12, 八十 -> 80, 一百零五 -> 105; None if it is not a plain number."""
    if all(ch in _CN_DIGITS for ch in text):
        return int("".join(str(_CN_DIGITS[ch]) for ch in text))
    total, current = 0, 0
    for ch in text:
        if ch in _CN_DIGITS:
            current = _CN_DIGITS[ch]
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        elif ch == "百":
            total += (current or 1) * 100
            current = 0
        else:
            return None
    return total + current


def normalize(text: str, strip_fillers: bool = True) -> str:
    """Full-width to half-width, traditional to simplified, lower case, no punctuation or fillers,
    and Chinese numerals before a measure word as digits (二孩 -> 2孩, 八十岁 -> 80岁)."""
    text = unicodedata.normalize("NFKC", text)
    text = _t2s().convert(text).lower()
    text = _PUNCT.sub("", text)
    text = _CN_NUMBER.sub(lambda m: str(n) if (n := cn_to_int(m[0])) is not None else m[0], text)
    text = text.replace("没有", "没")  # 没有收入 and 家里没收入 are the same words
    if strip_fillers:
        stripped = _LE.sub("", text)
        for word in FILLERS:
            stripped = stripped.replace(word, "")
        # a question made only of fillers ("怎么办") keeps its words
        text = stripped or text
    return text


_SYLLABLES: dict[str, str] = {}


def pinyin_key(text: str) -> str:
    """One code point per syllable of tone-less pinyin, so homophones become equal strings:
    党费 and 党非 both give the codes of 'dang' 'fei'."""
    out = []
    for syllable in lazy_pinyin(text, errors=lambda chunk: list(chunk)):
        code = _SYLLABLES.get(syllable)
        if code is None:
            code = _SYLLABLES[syllable] = chr(0xF0000 + len(_SYLLABLES))
        out.append(code)
    return "".join(out)


def substitute(term: str, means: str, word: str) -> str:
    """The term with `means` written as `word`, the word's ends merged with the term's characters around
    it: 建房子 with 盖房子 for 建房 is 盖房子, not 盖房子子; 翻建房屋 with 翻修房子 is 翻修房子屋."""
    start = term.index(means)
    before, after = term[:start], term[start + len(means):]
    head = next((k for k in range(min(len(before), len(word)), 0, -1) if before.endswith(word[:k])), 0)
    tail = next((k for k in range(min(len(after), len(word) - head), 0, -1) if after.startswith(word[-k:])), 0)
    return before[:len(before) - head] + word + after[tail:]


def grams(text: str) -> set[str]:
    """Character pairs of a text, and its single characters when it is short (1-3 characters)."""
    grams = {text[i:i + 2] for i in range(len(text) - 1)}
    if len(text) <= 3:
        grams.update(text)
    return grams


def syllable_chars(terms: list[str]) -> dict[str, str]:
    """A Han character for each tone-less syllable found in the terms, to read typed pinyin."""
    chars: dict[str, str] = {}
    for term in terms:
        for ch in term:
            if "\u4e00" <= ch <= "\u9fff":
                chars.setdefault(lazy_pinyin(ch)[0], ch)
    return chars


_LATIN = re.compile(r"[a-zA-Z]{2,}")


def latin_pinyin_to_han(text: str, chars: dict[str, str]) -> str:
    """Typed pinyin ('dibao怎么申请') split into known syllables, longest first, and written with a
    character of the same sound, which the pinyin channel then matches ('低保' or a homophone)."""
    def convert(m: re.Match) -> str:
        word, out, i = m[0].lower(), [], 0
        while i < len(word):
            for j in range(min(len(word), i + 6), i, -1):
                if word[i:j] in chars:
                    out.append(chars[word[i:j]])
                    i = j
                    break
            else:
                return m[0]  # not pinyin: leave it as it is
        return "".join(out)

    return _LATIN.sub(convert, text)


def term_score(query: str, term: str) -> float:
    """How well one normalized term fits the normalized query, 0-100.

    A term found inside a longer question counts by its own length (a 2-character hit is weaker
    evidence than a 6-character one); a question that is a fragment of a longer term counts by how
    much of the term it covers.
    """
    if not query or not term:
        return 0.0
    full = fuzz.ratio(query, term)
    shorter, longer = (term, query) if len(term) <= len(query) else (query, term)
    fit = fuzz.partial_ratio(shorter, longer) ** 2 / 100  # squared: a near-whole hit counts, a half hit hardly
    if shorter is term:
        specificity = 0.8 + 0.2 * min(len(term), 6) / 6
        share = 0.85 + 0.15 * min(1.0, 3 * len(term) / len(query))  # a word lost in a long story
        partial = fit * specificity * share
    else:
        partial = fit * (0.6 + 0.4 * len(query) / len(term))
    return max(full, partial)

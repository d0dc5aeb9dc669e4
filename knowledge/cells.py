"""Reads one cell of a 事项清单 as province exports write it: stray and full-width spaces, numbered
multi-line lists (`1、…`, `(1)…`, `①…`, `；`-separated), a material with 原件/复印件/份数 and how to get it,
and a time limit like `7(工作日)`, `7个工作日` or `即办`."""
from __future__ import annotations

import re
import unicodedata
from typing import Any

_FULL_WIDTH_ASCII = {cp: cp - 0xFEE0 for cp in range(0xFF10, 0xFF1A)}  # digits
_FULL_WIDTH_ASCII.update({cp: cp - 0xFEE0 for cp in range(0xFF21, 0xFF3B)})  # A-Z
_FULL_WIDTH_ASCII.update({cp: cp - 0xFEE0 for cp in range(0xFF41, 0xFF5B)})  # a-z
_FULL_WIDTH_ASCII.update({0x3000: 0x20, 0xFF0D: 0x2D, 0xFF0E: 0x2E, 0xFF0F: 0x2F})  # space - . /
_SPACES = re.compile(r"[ \t\u00a0\u2002\u2003\u200b]+")


def clean(value: Any) -> str:
    """A cell as text: full-width digits and letters half-width, stray spaces gone, lines kept.
    Chinese punctuation (，；（）) stays as the citizen reads it."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).translate(_FULL_WIDTH_ASCII).replace("\r\n", "\n").replace("\r", "\n")
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return "\n".join(line for line in lines if line)


def header_key(text: str) -> str:
    return re.sub(r"[\s()（）【】\[\]:：*＊]", "", unicodedata.normalize("NFKC", clean(text)))


_MARKER = re.compile(r"^\s*(?:\d{1,3}\s*[、.．)）]|[(（]\s*\d{1,3}\s*[)）]|[①-⑳]|[一二三四五六七八九十]{1,3}\s*[、.．]"
                     r"|[(（][一二三四五六七八九十]{1,3}[)）])\s*")
_INLINE_MARKER = re.compile(r"[；;。]\s*(?=(?:\d{1,3}\s*[、.．]|[(（]\s*\d{1,3}\s*[)）]|[①-⑳]|[(（][一二三四五六七八九十]{1,3}[)）]))")


def split_items(text: str, semicolons: bool = False) -> list[str]:
    """Numbered multi-line text as its items: `1、…`, `1.…`, `(1)…`, `①…` at line starts (or after a
    `；`), continuation lines joined to their item; unnumbered lines are items each; with
    `semicolons`, one unnumbered line is split at its `；`."""
    text = clean(text)
    if not text:
        return []
    text = _INLINE_MARKER.sub("\n", text)
    lines = text.split("\n")
    if any(_MARKER.match(line) for line in lines):
        items: list[str] = []
        for line in lines:
            if _MARKER.match(line) or not items:
                items.append(_MARKER.sub("", line, count=1))
            else:
                items[-1] += line
    elif semicolons and len(lines) == 1:
        items = re.split(r"[；;]", lines[0])
    else:
        items = lines
    items = [i.strip().rstrip("；;") .strip() for i in items]
    return [i for i in items if i]


_CN_NUM = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_FORMS = (("原件及复印件", r"原件(?:及|和|与|、|并|或)复印件|原件、复印件各|原复印件"), ("复印件", r"复印件"),
          ("原件", r"原件"), ("电子件", r"电子件|电子版|扫描件"), ("填写表格", r"填写表格"))
_COPIES = re.compile(r"(?:一式)?(\d{1,2}|[一二两三四五六七八九十])份")
_FORM_WORDS = re.compile(r"原件|复印件|电子件|电子版|扫描件|填写表格|\d+份|[一二两三四五六七八九十]份|非必需|非必要|非必须|如有|视情|选填|可选|必需|必要")
_PAREN = re.compile(r"[（(]([^（）()]*)[)）]")
_HOW = re.compile(r"【获取方式[:：]([^】]*)】\s*$")


def parse_material(text: str) -> dict[str, Any]:
    """One material line: its name, and the form, copies, required, note and how to get it where
    stated: `居民身份证（原件及复印件，2份）`, `户口簿复印件1份`, `残疾证（如有）：注明…`."""
    out: dict[str, Any] = {"form": "", "copies": 1, "required": True}
    how = _HOW.search(text)
    if how:
        out["how_to_get"] = how[1].strip()
        text = text[:how.start()].strip()
    name, note = text, ""
    # the stated form is in a bracket holding form words; the note follows a colon after it
    found = None
    for m in _PAREN.finditer(text):
        if _FORM_WORDS.search(m[1]):
            found = m
    if found:
        spec = found[1]
        name = text[:found.start()].strip()
        rest = text[found.end():].strip()
        if rest.startswith(("：", ":")):
            note = rest[1:].strip()
        elif rest:
            name = (name + rest).strip()
    else:
        head, sep, tail = re.split(r"([：:])", text, maxsplit=1) if re.search(r"[：:]", text) else (text, "", "")
        name, note = (head.strip(), tail.strip()) if sep else (text, "")
        spec = ""
        # a trailing "复印件1份" written into the name itself
        m = re.search(r"(原件(?:及|和|与|、)?复印件|复印件|原件)(?:各)?(?:(?:一式)?(?:\d{1,2}|[一二两三四五六七八九十])份)?$", name)
        if m and m.start() > 1:
            spec, name = m[0], name[:m.start()].rstrip("（(，,")
    for form, pattern in _FORMS:
        if re.search(pattern, spec):
            out["form"] = form
            break
    copies = _COPIES.search(spec)
    if copies:
        n = copies[1]
        out["copies"] = int(n) if n.isdigit() else _CN_NUM[n]
    if re.search(r"非必需|非必要|非必须|如有|视情|选填|可选", spec):
        out["required"] = False
    out["name"] = name.strip("；;，, ") or text
    if note:
        out["note"] = note
    return out


def format_material(m: dict[str, Any]) -> str:
    """The inverse of parse_material."""
    spec = [m.get("form") or ""]
    if m.get("copies", 1) != 1:
        spec.append(f"{m['copies']}份")
    if not m.get("required", True):
        spec.append("非必需")
    spec = [s for s in spec if s]
    text = m["name"] + (f"（{'，'.join(spec)}）" if spec else "")
    if m.get("note"):
        text += "：" + m["note"]
    if m.get("how_to_get"):
        text += f"【获取方式：{m['how_to_get']}】"
    return text


_DAYS = re.compile(r"^(\d{1,4})\s*[（(]?\s*(?:个)?\s*(工作日|日|天|自然日)?\s*[)）]?")
_ON_THE_SPOT = re.compile(r"^(即办|当场办结|当场办理|即时办结|立即办结|当即办结)")


def parse_days(text: str) -> tuple[int | None, str, bool]:
    """A time limit cell: (working days or None, the rest as a note, understood).

    `7(工作日)`, `7个工作日`, `7` -> 7; `即办`, `当场办结` -> 0; `30日`/`30天` (calendar days) and
    anything else are kept as words, with no number."""
    text = clean(text).replace("\n", "；")
    if not text:
        return None, "", True
    spot = _ON_THE_SPOT.match(text)
    if spot:
        return 0, text[spot.end():].lstrip("；;，, "), True
    m = _DAYS.match(unicodedata.normalize("NFKC", text))
    if m and m[2] in (None, "工作日"):
        rest = unicodedata.normalize("NFKC", text)[m.end():]
        return int(m[1]), (text[len(text) - len(rest):] if rest else "").lstrip("；;，,。 "), True
    return None, text, False


def format_days(days: int | None, note: str) -> str:
    head = "" if days is None else ("即办" if days == 0 else f"{days}(工作日)")
    return "；".join(p for p in (head, note) if p)


def words(text: str) -> list[str]:
    return [w.strip() for w in re.split(r"[；;\n]", clean(text)) if w.strip()]

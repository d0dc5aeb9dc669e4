"""Reads a center's 事项清单 (an .xlsx or .csv export of the province's 政务服务网) into matters, and
writes the base back out as such a workbook.

A workbook is read as exports write it: title rows above the header row, columns named by the national
办事指南 element names or a common variant, numbered multi-line materials with 原件/复印件/份数,
time limits like `7(工作日)` or `即办`, merged cells, stray spaces and full-width characters. Every
problem names its sheet, row and column. An element the guide leaves out is a warning, never a crash:
the matter lists it in `unknown`, and the notification sends the citizen to the phone for it.

Reading gives, per row, only the fields the workbook has columns for; `merge` lays them over the
current base (a column the workbook lacks keeps what the base had) and says what is added, updated,
unchanged and, with `replace`, retired.
"""
from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from pydantic import ValidationError

from knowledge.schema import ELEMENT_LABELS, Center, Matter

SHEET_CSV = "csv"

# field -> the header names that mean it (normalized: no spaces or brackets), national names first
COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("事项ID", "ID"),
    "code": ("事项编码", "实施编码", "事项代码", "基本编码", "编码"),
    "name": ("事项名称", "服务事项名称", "事项全称", "实施清单名称", "名称"),
    "aliases": ("别名", "俗称", "常用名称"),
    "keywords": ("关键词", "关键字"),
    "summary": ("事项简介", "简介", "事项说明"),
    "category": ("事项分类", "主题分类", "所属分类", "分类", "类别"),
    "type": ("办件类型",),
    "kind": ("事项类型", "权力类型", "事项性质"),
    "department": ("实施主体", "实施机构", "实施部门", "办理部门", "受理部门", "责任部门", "承办部门"),
    "window": ("受理窗口", "办理窗口", "窗口"),
    "legal_basis": ("设定依据", "办理依据", "受理标准及依据", "法律依据", "实施依据", "法定依据", "依据"),
    "conditions": ("受理条件", "申办条件", "申请条件", "办理条件", "受理标准"),
    "materials": ("申请材料", "所需材料", "材料清单", "申报材料", "提交材料", "申请材料目录", "材料"),
    "joint": ("联办部门材料",),
    "procedure": ("办理流程", "办理程序", "办事流程", "办理步骤", "流程"),
    "legal_days": ("法定办结时限", "法定时限", "法定期限"),
    "promised_days": ("承诺办结时限", "承诺时限", "承诺期限", "办结时限"),
    "fee": ("收费标准", "是否收费", "收费情况", "收费项目"),
    "fee_basis": ("收费依据",),
    "where": ("办理地点", "办理地址", "受理地点", "办公地址", "地点"),
    "office_hours": ("办理时间", "受理时间", "办公时间"),
    "phone": ("咨询电话", "咨询方式", "联系电话"),
    "supervision_phone": ("监督投诉电话", "监督电话", "投诉电话", "监督投诉方式", "投诉方式"),
    "audience": ("服务对象", "办理对象", "适用对象"),
    "note": ("温馨提示", "备注", "特别提示"),
}
# the header each field is exported under (the national element name where there is one)
EXPORT_HEADERS = {f: names[0] for f, names in COLUMNS.items()}
# fields the sheet must hold for a row to be a matter at all
REQUIRED_COLUMNS = ("name",)
# the 办事指南 elements whose absence is a warning (the citizen is sent to the phone for them)
ELEMENT_COLUMNS = {"conditions": "conditions", "materials": "materials", "legal_basis": "legal_basis",
                   "procedure": "procedure", "promised_days": "time_limit", "fee": "fee"}
NONE_WORDS = {"无", "无需", "没有", "不涉及", "无要求", "无条件", "无需提交材料", "无需材料", "无材料", "/", "-", "—"}
FREE_WORDS = {"不收费", "免费", "无", "否", "不涉及", "无收费", "免收"}
MATTER_TYPES = ("即办件", "承诺件", "上报件", "联办件")
HEADER_SCAN = 20  # rows looked at for the header
MAX_ROWS = 20000


@dataclass(frozen=True)
class Problem:
    level: str  # "error" (the import is refused) or "warning"
    sheet: str
    row: int | None
    column: str | None  # the column's letter and header, e.g. "E 申请材料"
    message: str

    def __str__(self) -> str:
        where = self.sheet
        if self.row:
            where += f" row {self.row}"
        if self.column:
            where += f", column {self.column}"
        return f"{self.level}: {where}: {self.message}"


@dataclass
class Row:
    """One matter as the workbook states it: only the fields it has columns (and values) for."""

    sheet: str
    row: int
    data: dict[str, Any]
    columns: dict[str, str]  # field -> column label, for messages
    unknown: list[str] = field(default_factory=list)


@dataclass
class Reading:
    rows: list[Row] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    used: dict[str, list[str]] = field(default_factory=dict)  # sheet -> the headers recognised
    unused: dict[str, list[str]] = field(default_factory=dict)  # sheet -> the headers not used

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "warning"]


# -- cells ---------------------------------------------------------------------------------------
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


def recognise(header: str) -> str | None:
    """The field a header means: an exact name first, then the longest name it contains."""
    key = header_key(header)
    if not key:
        return None
    for f, names in COLUMNS.items():
        if key in (header_key(n) for n in names):
            return f
    best = None
    for f, names in COLUMNS.items():
        for n in names:
            n = header_key(n)
            if len(n) >= 2 and n in key and (best is None or len(n) > best[1]):
                best = (f, len(n))
    return best[0] if best else None


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


def _words(text: str) -> list[str]:
    return [w.strip() for w in re.split(r"[；;\n]", clean(text)) if w.strip()]


# -- reading a workbook ---------------------------------------------------------------------------
def _column_letter(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def _sheets(path: Path) -> list[tuple[str, list[list[Any]]]]:
    """Each sheet's cells as rows of values, merged cells filled with their value; raises ValueError
    with a readable message for a file that is not a workbook."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        raw = path.read_bytes()
        for enc in ("utf-8-sig", "gb18030"):
            try:
                text = raw.decode(enc)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise ValueError("the .csv file is neither UTF-8 nor GB18030 text")
        return [(SHEET_CSV, list(csv.reader(io.StringIO(text))))]
    if suffix not in (".xlsx", ".xlsm"):
        raise ValueError(f"'{path.name}' is not an .xlsx or .csv file (save an .xls as .xlsx first)")
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException
    import zipfile

    try:
        wb = openpyxl.load_workbook(path, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise ValueError(f"'{path.name}' cannot be read as an .xlsx workbook ({type(exc).__name__})") from None
    out = []
    for ws in wb.worksheets:
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
        for rng in ws.merged_cells.ranges:
            value = ws.cell(rng.min_row, rng.min_col).value
            for r in range(rng.min_row, min(rng.max_row, len(rows)) + 1):
                row = rows[r - 1]
                for c in range(rng.min_col, rng.max_col + 1):
                    while len(row) < c:
                        row.append(None)
                    row[c - 1] = value
        out.append((ws.title, rows))
    return out


def _find_header(rows: list[list[Any]]) -> tuple[int, dict[int, str]] | None:
    """The header row (index) and its recognised columns: the first of the top rows naming the most
    fields, which must include the matter's name."""
    best = None
    for i, row in enumerate(rows[:HEADER_SCAN]):
        found: dict[int, str] = {}
        for j, cell in enumerate(row):
            f = recognise(clean(cell)) if cell is not None and len(clean(cell)) <= 30 else None
            if f and f not in found.values():
                found[j] = f
        if "name" in found.values() and len(found) >= 2 and (best is None or len(found) > len(best[1])):
            best = (i, found)
    return best


def read(path: Path | str, center: Center | None = None) -> Reading:
    """Read every sheet of a workbook that has a header row; never raises for bad content."""
    path = Path(path)
    reading = Reading()
    try:
        sheets = _sheets(path)
    except (ValueError, OSError) as exc:
        reading.problems.append(Problem("error", path.name, None, None, str(exc)))
        return reading
    for title, rows in sheets:
        _read_sheet(title, rows, reading, center)
    if not reading.rows and not reading.errors:
        reading.problems.append(Problem("error", path.name, None, None,
                                        "no sheet has a header row naming 事项名称 and at least one other element"))
    _check_duplicates(reading)
    return reading


def _read_sheet(title: str, rows: list[list[Any]], reading: Reading, center: Center | None) -> None:
    if not any(any(clean(c) for c in r) for r in rows):
        return
    header = _find_header(rows)
    if header is None:
        reading.problems.append(Problem("warning", title, None, None,
                                        "skipped: no header row naming 事项名称 in its first 20 rows"))
        return
    at, columns = header
    labels = {j: f"{_column_letter(j)} {clean(rows[at][j])}" for j in columns}
    reading.used[title] = [clean(rows[at][j]) for j in columns]
    reading.unused[title] = [clean(c) for j, c in enumerate(rows[at]) if j not in columns and clean(c)]
    present = set(columns.values())
    for f, element in ELEMENT_COLUMNS.items():
        if f not in present and not (f == "fee" and "fee_basis" in present):
            reading.problems.append(Problem(
                "warning", title, None, None,
                f"no {EXPORT_HEADERS[f]} column: every matter of this sheet tells the citizen to call for "
                f"its {ELEMENT_LABELS[element]}"))
    if len(rows) - at - 1 > MAX_ROWS:
        reading.problems.append(Problem("error", title, None, None, f"more than {MAX_ROWS} rows"))
        return
    for i in range(at + 1, len(rows)):
        cells = {f: clean(rows[i][j]) if j < len(rows[i]) else "" for j, f in columns.items()}
        if not any(cells.values()):
            continue
        by_field = {f: labels[j] for j, f in columns.items()}
        row = Row(title, i + 1, {}, by_field)
        _read_row(cells, present, row, reading, center)
        reading.rows.append(row)


def _read_row(cells: dict[str, str], present: set[str], row: Row, reading: Reading, center: Center | None) -> None:
    def problem(level: str, f: str | None, message: str) -> None:
        reading.problems.append(Problem(level, row.sheet, row.row, row.columns.get(f) if f else None, message))

    d = row.data
    if not cells.get("name"):
        problem("error", "name", "the matter's name is empty")
    else:
        d["name"] = cells["name"].replace("\n", "")
    for f in ("id", "code", "summary", "department", "where", "office_hours", "phone", "supervision_phone",
              "audience", "note", "category"):
        if f in present:
            d[f] = cells[f].replace("\n", "；") if f not in ("summary", "note") else cells[f]
    if "id" in present and not d["id"]:
        del d["id"]
    for f in ("aliases", "keywords"):
        if f in present:
            d[f] = _words(cells[f])
    # 办件类型 (即办件 …) and 事项类型 (行政许可 …): the latter is a category when no category column
    kind = cells.get("kind", "")
    if "type" in present and cells["type"]:
        if cells["type"] not in MATTER_TYPES:
            problem("error", "type", f"'{cells['type']}' is not one of {'、'.join(MATTER_TYPES)}")
        else:
            d["type"] = cells["type"]
    elif kind in MATTER_TYPES:
        d["type"] = kind
    elif kind and "category" not in present:
        d["category"] = kind
    if "window" in present and cells["window"] and center is not None:
        w = next((w for w in center.windows if cells["window"] in (w.id, w.name)), None)
        if w is None:
            problem("error", "window", f"no window '{cells['window']}' in center.yaml "
                                       f"(one of {', '.join(w.id for w in center.windows)})")
        else:
            d["window"] = w.id
    # the elements: a missing column or an empty cell is a warning, and the element is unknown
    for f, element in ELEMENT_COLUMNS.items():
        if f not in present and not (f == "fee" and "fee_basis" in present):
            row.unknown.append(element)
            continue
        value = cells.get(f, "")
        if f == "fee" and not value and cells.get("fee_basis"):
            value = "收费"
        if not value:
            row.unknown.append(element)
            problem("warning", f, f"{EXPORT_HEADERS[f]} is empty: the citizen is told to call for it")
            continue
        if value in NONE_WORDS and f in ("conditions", "materials"):
            d[f] = []
        elif value in NONE_WORDS:
            row.unknown.append(element)
            problem("warning", f, f"{EXPORT_HEADERS[f]} says '{value}': the citizen is told to call for it")
        elif f == "materials":
            d[f] = [parse_material(t) for t in split_items(value, semicolons=True)]
        elif f in ("conditions", "procedure", "legal_basis"):
            d[f] = split_items(value, semicolons=f != "legal_basis")
        elif f == "promised_days":
            days, note, ok = parse_days(value)
            if not ok:
                problem("warning", f, f"'{value}' is not a number of working days (like 7(工作日) or 即办): "
                                      f"kept as words")
            d["time_limit"] = {"promised_days": days, "note": note}
            if days is None and not note:
                row.unknown.append("time_limit")
        elif f == "fee":
            if value in FREE_WORDS:
                d["fee"] = {"free": True, "items": [], "basis": cells.get("fee_basis", "")}
            else:
                items = [] if value == "收费" else _words(value)
                d["fee"] = {"free": False, "items": items, "basis": cells.get("fee_basis", "")}
                if not items or not d["fee"]["basis"]:
                    problem("warning", f, "a charged matter without its fee items and basis: the citizen is "
                                          "told to call for the fees")
                    row.unknown.append("fee")
                    del d["fee"]
    if "legal_days" in present and cells["legal_days"]:
        days, note, ok = parse_days(cells["legal_days"])
        if not ok:
            problem("warning", "legal_days", f"'{cells['legal_days']}' is not a number of working days: not used")
        tl = d.setdefault("time_limit", {"promised_days": None, "note": ""})
        tl["legal_days"] = days
        if days is not None and tl.get("promised_days") is not None and tl["promised_days"] > days:
            problem("warning", "promised_days", f"the promised time ({tl['promised_days']}) is longer than the "
                                                f"legal time ({days}): the legal time is not shown")
            tl["legal_days"] = None
    if "type" not in d and "time_limit" in d and d["time_limit"].get("promised_days") == 0:
        d["derived_type"] = "即办件"
    if "joint" in present and cells["joint"]:
        d["joint_departments"] = _parse_joint(cells["joint"])


def _parse_joint(text: str) -> list[dict[str, Any]]:
    """`【部门】` alone on a line, then that department's numbered materials."""
    out: list[dict[str, Any]] = []
    lines: list[str] = []
    for line in clean(text).split("\n") + ["【】"]:
        head = re.fullmatch(r"【([^】]*)】", line)
        if head:
            if out:
                out[-1]["materials"] = [parse_material(t) for t in split_items("\n".join(lines))]
            if head[1]:
                out.append({"name": head[1].strip(), "materials": []})
            lines = []
        else:
            lines.append(line)
    return out


def _check_duplicates(reading: Reading) -> None:
    for f, what in (("code", "事项编码"), ("name", "事项名称"), ("id", "事项ID")):
        seen: dict[str, Row] = {}
        for row in reading.rows:
            value = row.data.get(f)
            if not value:
                continue
            if value in seen:
                first = seen[value]
                reading.problems.append(Problem("error", row.sheet, row.row, row.columns.get(f),
                                                f"{what} '{value}' is also on {first.sheet} row {first.row}"))
            else:
                seen[value] = row


# -- merging into the base ------------------------------------------------------------------------
@dataclass
class Plan:
    """What an import would do to the base: matters to write (id -> matter) and to retire."""

    added: list[Matter] = field(default_factory=list)
    updated: list[Matter] = field(default_factory=list)
    unchanged: int = 0
    retired: list[Matter] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def writes(self) -> dict[str, Matter | None]:
        out: dict[str, Matter | None] = {m.id: m for m in self.added + self.updated}
        out.update({m.id: None for m in self.retired})
        return out


def new_id(code: str, name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", unicodedata.normalize("NFKC", code).lower()).strip("-")
    if slug and len(slug) <= 48:
        return slug
    return "m-" + hashlib.sha1(name.encode()).hexdigest()[:10]


def merge(reading: Reading, current: dict[str, Matter], center: Center, replace: bool = False,
          default_window: str | None = None) -> Plan:
    """Lay the rows over the current matters: matched by id, then code, then name; a field the
    workbook has no column for keeps its current value. Every row is validated like a YAML matter."""
    plan = Plan(problems=list(reading.problems))
    by_code = {m.code: m for m in current.values() if m.code}
    by_name = {m.name: m for m in current.values()}
    window = default_window or center.windows[0].id
    touched: set[str] = set()
    for row in reading.rows:
        d = dict(row.data)
        if "name" not in d:
            continue
        existing = (current.get(d.get("id", "")) or (by_code.get(d["code"]) if d.get("code") else None)
                    or by_name.get(d["name"]))
        derived_type = d.pop("derived_type", None)
        if existing is not None:
            base = existing.model_dump(mode="json")
            unknown = [u for u in existing.unknown if u not in _stated(row)] + row.unknown
        else:
            base = {"id": d.get("id") or new_id(d.get("code", ""), d["name"]), "window": window,
                    "department": center.name, "category": "其他", "type": "承诺件"}
            unknown = list(row.unknown)
        promised = d.get("time_limit", {}).get("promised_days")
        if "type" not in d and "time_limit" in d and (existing is None or existing.type in ("即办件", "承诺件")):
            # without a 办件类型 column the time limit says it: on the spot is 即办件, else 承诺件
            if derived_type or promised == 0:
                d["type"] = "即办件"
            elif existing is None or (existing.type == "即办件" and promised is not None):
                d["type"] = "承诺件"
        if "time_limit" in d and existing is not None and "legal_days" not in d["time_limit"]:
            d["time_limit"]["legal_days"] = existing.time_limit.legal_days
        base.update(d)
        if d.get("id") and existing is not None and existing.id != d["id"]:
            base["id"] = existing.id
        base["unknown"] = sorted(set(unknown), key=list(ELEMENT_LABELS).index)
        try:
            matter = Matter.model_validate(base)
        except ValidationError as exc:
            for err in exc.errors():
                f = next((str(p) for p in err["loc"] if isinstance(p, str)), None)
                col = row.columns.get({"time_limit": "promised_days"}.get(f, f)) if f else None
                plan.problems.append(Problem("error", row.sheet, row.row, col,
                                             f"{'.'.join(map(str, err['loc'])) or 'matter'}: {err['msg']}"))
            continue
        if matter.id in touched:
            plan.problems.append(Problem("error", row.sheet, row.row, row.columns.get("name"),
                                         f"matches the same matter ('{matter.name}') as an earlier row"))
            continue
        touched.add(matter.id)
        if existing is None:
            plan.added.append(matter)
        elif matter == existing:
            plan.unchanged += 1
        else:
            plan.updated.append(matter)
    if replace:
        plan.retired = [m for m in current.values() if m.id not in touched]
    return plan


def _stated(row: Row) -> set[str]:
    """The elements a row's workbook has columns for (so their unknown-ness is the row's to say)."""
    return {e for f, e in ELEMENT_COLUMNS.items() if f in row.columns
            or (f == "fee" and "fee_basis" in row.columns)}


# -- writing a workbook ---------------------------------------------------------------------------
EXPORT_FIELDS = ("id", "code", "name", "aliases", "keywords", "summary", "category", "type", "department",
                 "window", "legal_basis", "conditions", "materials", "joint", "procedure", "legal_days",
                 "promised_days", "fee", "fee_basis", "where", "office_hours", "phone", "supervision_phone",
                 "audience", "note")


def _numbered(items: Iterable[str]) -> str:
    items = list(items)
    if not items:
        return ""
    return "\n".join(f"{i}、{t}" for i, t in enumerate(items, 1))


def export_row(m: Matter) -> list[str]:
    u = set(m.unknown)

    def element(name: str, text: str, empty: str = "无") -> str:
        return "" if name in u else (text or empty)

    values = {
        "id": m.id, "code": m.code, "name": m.name, "aliases": "；".join(m.aliases),
        "keywords": "；".join(m.keywords), "summary": m.summary, "category": m.category, "type": m.type,
        "department": m.department, "window": m.window,
        "legal_basis": element("legal_basis", _numbered(m.legal_basis)),
        "conditions": element("conditions", _numbered(m.conditions)),
        "materials": element("materials", _numbered(format_material(x.model_dump()) for x in m.materials)),
        "joint": "\n".join(f"【{d.name}】\n" + _numbered(format_material(x.model_dump()) for x in d.materials)
                           for d in m.joint_departments),
        "procedure": element("procedure", _numbered(m.procedure)),
        "legal_days": format_days(m.time_limit.legal_days, ""),
        "promised_days": "" if "time_limit" in u else format_days(m.time_limit.promised_days, m.time_limit.note),
        "fee": "" if "fee" in u else ("不收费" if m.fee.free else "；".join(m.fee.items)),
        "fee_basis": "" if "fee" in u else m.fee.basis,
        "where": m.where, "office_hours": m.office_hours, "phone": m.phone,
        "supervision_phone": m.supervision_phone, "audience": m.audience, "note": m.note,
    }
    return [values[f] for f in EXPORT_FIELDS]


def export(matters: Iterable[Matter], path: Path | str | None = None) -> bytes:
    """The matters as an .xlsx 事项清单 that `read` reads back to the same matters."""
    import openpyxl
    from openpyxl.styles import Alignment, Font

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "事项清单"
    ws.append([EXPORT_HEADERS[f] for f in EXPORT_FIELDS])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for m in matters:
        # a text starting with = + - @ is a formula to Excel: write every cell as a plain string
        ws.append([_safe(v) for v in export_row(m)])
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            cell.data_type = "s"
    buf = io.BytesIO()
    wb.save(buf)
    data = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def _safe(value: str) -> str:
    """Cells are then typed as strings (data_type 's'), so Excel never evaluates a leading = + - @; no
    quote is added, as it would change the text that is read back."""
    return value

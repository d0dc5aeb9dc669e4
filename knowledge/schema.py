"""The shape of the knowledge base: the center, its outside units and its matters, as pydantic models.

Every field a YAML file may hold is declared here; unknown fields are errors, so a typo in the
data is caught on load instead of silently ignored.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_PERIOD = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
_ID = r"^[a-z0-9][a-z0-9-]*$"

MatterType = Literal["即办件", "承诺件", "上报件", "联办件"]
MaterialForm = Literal["原件", "复印件", "原件及复印件", "电子件", "填写表格", ""]  # "": the guide does not say
# The elements of a 办事指南 a matter may leave unstated (an imported guide often does): the notification
# then sends the citizen to the window's phone for each of them instead of inventing it.
Element = Literal["conditions", "materials", "legal_basis", "procedure", "time_limit", "fee"]
ELEMENT_LABELS = {"conditions": "办理条件", "materials": "申请材料", "legal_basis": "办事依据",
                  "procedure": "办理流程", "time_limit": "办理时限", "fee": "收费标准"}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Period(Strict):
    """One opening period of a day, e.g. 09:00-12:00."""

    start: dt.time
    end: dt.time

    @classmethod
    def parse(cls, text: str) -> "Period":
        m = _PERIOD.match(text.strip())
        if not m:
            raise ValueError(f"'{text}' is not a period like 09:00-12:00")
        start = dt.time(int(m[1]), int(m[2]))
        end = dt.time(int(m[3]), int(m[4]))
        if end <= start:
            raise ValueError(f"period '{text}' ends before it starts")
        return cls(start=start, end=end)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def _weekday_numbers(v: list[int]) -> list[int]:
    bad = [d for d in v if d < 1 or d > 7]
    if bad:
        raise ValueError(f"weekdays are 1 (Monday) to 7 (Sunday), not {bad}")
    return sorted(set(v))


class _Periods(Strict):
    """Periods of a day, each like 09:00-12:00, in order and not overlapping."""

    periods: list[Period] = Field(min_length=1)

    @field_validator("periods", mode="before")
    @classmethod
    def _periods(cls, v):
        if isinstance(v, list):
            return [Period.parse(p) if isinstance(p, str) else p for p in v]
        return v

    @model_validator(mode="after")
    def _ordered(self):
        for a, b in zip(self.periods, self.periods[1:]):
            if b.start < a.end:
                raise ValueError(f"periods overlap or are out of order: {a} and {b}")
        return self


class Extended(_Periods):
    """延时服务 (seed 000 §四): periods beyond office hours a window serves by appointment, on these
    weekdays (1 = Monday), never on a holiday."""

    days: list[int] = Field(min_length=1)

    @field_validator("days")
    @classmethod
    def _days(cls, v: list[int]) -> list[int]:
        return _weekday_numbers(v)


class Hours(_Periods):
    """Opening hours: which weekdays (1 = Monday) and the periods of each open day; `extended`: the
    延时服务 periods a window serves by appointment."""

    weekdays: list[int] = Field(min_length=1)
    note: str = ""
    extended: list[Extended] = []

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, v: list[int]) -> list[int]:
        return _weekday_numbers(v)


class Phones(Strict):
    consult: str
    complaint: str
    supervision: str


class Holders(Strict):
    """A post's A holder and its B holders in order (AB岗: "B岗工作人员可为多人"): the first of A, B1, B2, ...
    on duty takes the work. `b` is one name (`b: 张三`) or a list in order (`b: [张三, 李四]`)."""

    a: str | None = Field(default=None, description="roster name of the A holder (None: the leaders)")
    b: list[str] = Field(default=[], max_length=20,
                         description="roster names of the B holders who stand in when A is away, in order")

    @field_validator("a", mode="before")
    @classmethod
    def _no_blank_a(cls, v):
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("b", mode="before")
    @classmethod
    def _one_or_many(cls, v):
        if v is None:
            return []
        if isinstance(v, str):
            return [n for n in re.split(r"[、,，;；\s]+", v) if n]
        return v

    @field_validator("b", mode="after")
    @classmethod
    def _distinct(cls, v: list[str], info) -> list[str]:
        if any(not n for n in v):
            raise ValueError("a B holder's name is empty")
        twice = sorted({n for n in v if v.count(n) > 1})
        if twice:
            raise ValueError(f"{'、'.join(twice)} is listed more than once as a B holder")
        a = info.data.get("a")
        if a and a in v:
            raise ValueError(f"{a} is the A holder and cannot also be a B holder")
        return v

    @property
    def chain(self) -> list[str]:
        """A, then each B holder, in the order they take the work."""
        return ([self.a] if self.a else []) + list(self.b)


class Window(Holders):
    id: str = Field(pattern=_ID)
    name: str
    location: str
    services: str = ""


class Unit(Strict):
    """An outside unit a citizen is referred to for matters this center does not handle."""

    id: str = Field(pattern=_ID)
    name: str
    address: str
    phone: str
    hours: str
    topics: list[str] = Field(min_length=1, description="words that send a question to this unit")
    note: str = ""


class CalendarYear(Strict):
    """Holidays and make-up workdays of a year the chinese-calendar package does not know yet, as the
    State Council's notice gives them: each a list of dates, or holiday names with their dates
    (`holidays: {元旦: [2027-01-01, ...], 春节: [...]}`), read into date -> holiday name ("" unnamed)."""

    holidays: dict[dt.date, str] = {}
    workdays: dict[dt.date, str] = {}

    @field_validator("holidays", "workdays", mode="before")
    @classmethod
    def _named(cls, value):
        if isinstance(value, (list, tuple)):
            return {day: "" for day in value}
        if isinstance(value, dict) and all(isinstance(v, (list, tuple)) for v in value.values()):
            return {day: str(name) for name, days in value.items() for day in days}
        return value


RECORD_TYPES = ("consultation", "help", "complaint", "report", "suggestion", "delegation", "visit",
                "rectification")
# Types a center may leave out of center.yaml: these defaults are used then.
OPTIONAL_RECORD_TYPES = {"appointment": {"label": "预约办事", "prefix": "YY", "due_days": 1},
                         "application": {"label": "办件", "prefix": "BJ", "due_days": 5}}


class RecordType(Holders):
    """One kind of first-responder record: its label, number prefix, due date and A/B holders."""

    label: str
    prefix: str = Field(pattern=r"^[A-Z]{2}$")
    due_days: int = Field(ge=0, description="working days to answer")
    leaders: bool = Field(default=False, description="the leaders get a summary of every record")


class RecordsConfig(Strict):
    takeover_minutes: int = Field(default=30, ge=1, description="working minutes A has to take a record")
    leaders: list[str] = Field(default=[], description="roster names of the center's leaders")
    daily_per_person: int = Field(default=5, ge=1, le=1000,
                                  description="new records one citizen (WeChat user) may make a day")
    types: dict[str, RecordType]

    @model_validator(mode="after")
    def _all_types(self) -> "RecordsConfig":
        missing = [t for t in RECORD_TYPES if t not in self.types]
        unknown = [t for t in self.types if t not in RECORD_TYPES and t not in OPTIONAL_RECORD_TYPES]
        for kind, default in OPTIONAL_RECORD_TYPES.items():
            if kind not in self.types and not missing and not unknown:
                self.types[kind] = RecordType(**default)
        if missing or unknown:
            raise ValueError(f"types must be exactly {', '.join(RECORD_TYPES)}"
                             + (f"; missing {', '.join(missing)}" if missing else "")
                             + (f"; unknown {', '.join(unknown)}" if unknown else ""))
        prefixes = [t.prefix for t in self.types.values()]
        if len(set(prefixes)) != len(prefixes):
            raise ValueError("record type prefixes must differ")
        return self


# What a notification may carry, and which kinds of WeChat field can show each (see Notifications).
NOTICE_SOURCES = ("number", "subject", "status", "time", "hint", "center")
_FIELD_SOURCES = {
    "thing": NOTICE_SOURCES, "keyword": NOTICE_SOURCES,  # up to 20 characters of any kind
    "character_string": ("number",),  # up to 32 letters, digits and symbols, no Chinese
    "phrase": ("status",),  # up to 5 Chinese characters
    "time": ("time",), "date": ("time",),
}
_FIELD = re.compile(r"^(thing|keyword|character_string|phrase|time|date)\d{1,2}$")


class Notifications(Strict):
    """The message a citizen gets when a customer-service text cannot reach them (outside WeChat's
    48 hours, or the 5 messages a user's message allows are spent): WeChat's template message
    (模板消息, verified service accounts) or its subscribe message (订阅通知, after the citizen agreed).

    Since 4 May 2023 WeChat shows neither `first` nor `remark`, no colours, and at most 20 characters
    of each keyword: `fields` maps each keyword of the center's chosen template (as the WeChat console
    names it: thing2, character_string1, phrase3, time4; keyword1.. for older templates) to what it
    shows: number (record or booking number), subject (what it is about), status (a short word such as
    已办结), time, hint (how to read the whole message) or center (the center's name)."""

    kind: Literal["template", "subscribe"]
    template_id: str = Field(min_length=1, max_length=128)
    fields: dict[str, str] = Field(min_length=1, max_length=5)
    url: str | None = Field(default=None, description="page the message opens (optional)")
    long_term: bool = Field(default=False, description="a subscribe message the citizen agreed to once for "
                            "good (长期订阅, 政务民生 accounts); else one message per agreement")

    @field_validator("fields")
    @classmethod
    def _fields(cls, v: dict[str, str]) -> dict[str, str]:
        for name, source in v.items():
            if name in ("first", "remark"):
                raise ValueError(f"'{name}': WeChat no longer shows first and remark (since May 2023); "
                                 "map only the template's keyword fields")
            m = _FIELD.match(name)
            if not m:
                raise ValueError(f"'{name}' is not a keyword field centerbot can fill: use thing1, keyword1, "
                                 "character_string1, phrase1, time1 or date1 (the names the WeChat console shows)")
            if source not in NOTICE_SOURCES:
                raise ValueError(f"{name}: '{source}' is not one of {', '.join(NOTICE_SOURCES)}")
            if source not in _FIELD_SOURCES[m[1]]:
                raise ValueError(f"{name}: a {m[1]} field cannot show {source}; it can show "
                                 f"{', '.join(_FIELD_SOURCES[m[1]])}")
        return v

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v and not v.startswith("https://"):
            raise ValueError("url must start with https://")
        return v or None


class Center(Strict):
    name: str
    sample: bool = False
    address: str
    hours: Hours
    phones: Phones
    windows: list[Window] = Field(min_length=1)
    units: list[Unit] = []
    calendar: dict[int, CalendarYear] = {}
    welcome: str = ""
    categories: list[str] = Field(default=[], description="the order categories are listed in")
    popular: list[str] = Field(default=[], max_length=8, description="matter ids offered as 热门事项")
    records: RecordsConfig | None = None
    # one message, or several tried in order (a subscribe message the citizen agreed to, then a template)
    notifications: list[Notifications] | None = Field(default=None, max_length=3)

    @field_validator("notifications", mode="before")
    @classmethod
    def _one_or_several(cls, v):
        return [v] if isinstance(v, dict) else v

    @property
    def fallbacks(self) -> list[Notifications]:
        """The messages tried in order when a customer-service text cannot reach a user."""
        n = self.notifications
        return [n] if isinstance(n, Notifications) else list(n or [])

    @model_validator(mode="after")
    def _unique_ids(self) -> "Center":
        for config in self.fallbacks:
            if "center" in config.fields.values() and len(self.name) > 20:
                raise ValueError(f"notifications: the center's name has {len(self.name)} characters and WeChat "
                                 "shows 20 of a keyword: map another source")
        ids = [config.template_id for config in self.fallbacks]
        if len(set(ids)) != len(ids):
            raise ValueError("notifications: a template id is listed twice")
        for kind, items in (("windows", self.windows), ("units", self.units)):
            seen: set[str] = set()
            for item in items:
                if item.id in seen:
                    raise ValueError(f"{kind}: id '{item.id}' is used twice")
                seen.add(item.id)
        return self

    def window(self, window_id: str) -> Window | None:
        return next((w for w in self.windows if w.id == window_id), None)


class Material(Strict):
    name: str
    form: MaterialForm = "原件"
    copies: int = Field(default=1, ge=0, le=20)
    required: bool = True
    note: str = ""
    how_to_get: str = Field(default="", description="where a citizen gets it if missing (补正 notice)")


class JointDepartment(Strict):
    """A department of a 联办件 and the materials it needs, told at once by the lead window."""

    name: str
    materials: list[Material] = Field(min_length=1)


class TimeLimit(Strict):
    """Time limits in working days; 0 promised days means handled on the spot (当场办结); None: the guide
    gives no promised time in working days (its words, if any, are in `note`)."""

    legal_days: int | None = Field(default=None, ge=0)
    promised_days: int | None = Field(default=None, ge=0)
    note: str = ""

    @model_validator(mode="after")
    def _promise_within_law(self) -> "TimeLimit":
        if self.legal_days is not None and self.promised_days is not None and self.promised_days > self.legal_days:
            raise ValueError(
                f"promised_days ({self.promised_days}) is longer than legal_days ({self.legal_days})"
            )
        return self


class Fee(Strict):
    free: bool = True
    items: list[str] = []
    basis: str = ""

    @model_validator(mode="after")
    def _charged_needs_items(self) -> "Fee":
        if not self.free and not self.items:
            raise ValueError("a charged matter lists its fee items")
        if not self.free and not self.basis:
            raise ValueError("a charged matter names the basis of its fees")
        return self


class Matter(Strict):
    """One service matter (事项) with every element of a 办事指南."""

    id: str = Field(pattern=_ID)
    name: str
    aliases: list[str] = []
    keywords: list[str] = []
    unknown: list[Element] = Field(default=[], description="elements the guide does not state")
    summary: str = Field(default="", description="who it is for and what it does, in a citizen's words")
    category: str
    department: str
    window: str = Field(description="id of a window in center.yaml")
    type: MatterType
    legal_basis: list[str] = []
    conditions: list[str] = []
    materials: list[Material] = []
    joint_departments: list[JointDepartment] = []
    procedure: list[str] = []
    time_limit: TimeLimit = TimeLimit()
    fee: Fee = Fee()
    where: str = ""
    phone: str = ""
    note: str = ""
    code: str = Field(default="", description="事项编码 of the province's catalogue, when known")
    audience: str = Field(default="", description="服务对象")
    office_hours: str = Field(default="", description="办理时间, when it differs from the center's hours")
    supervision_phone: str = Field(default="", description="监督投诉电话 of this matter")

    # A 办事指南 states its legal basis, procedure and promised time; one that does not says so in
    # `unknown` (an imported guide), so that the citizen is sent to the phone instead of told nothing.
    @field_validator("legal_basis", "procedure")
    @classmethod
    def _stated(cls, v: list[str], info):
        if not v and info.field_name not in info.data.get("unknown", ()):
            raise ValueError(f"{info.field_name} is empty: list it, or name '{info.field_name}' in unknown")
        return v

    @field_validator("time_limit")
    @classmethod
    def _promised(cls, v: TimeLimit, info):
        if v.promised_days is None and "time_limit" not in info.data.get("unknown", ()):
            raise ValueError("promised_days is missing: give it, or name 'time_limit' in unknown")
        return v

    @model_validator(mode="after")
    def _joint(self) -> "Matter":
        if self.type == "联办件" and not self.joint_departments:
            raise ValueError("a 联办件 lists its joint_departments and their materials")
        if self.type == "即办件" and self.time_limit.promised_days != 0:
            raise ValueError("a 即办件 is handled on the spot: time_limit.promised_days must be 0")
        return self


class MatterFile(Strict):
    """One YAML file under matters/: a list of matters."""

    matters: list[Matter] = Field(min_length=1)


MENU_KEY = r"^[A-Z][A-Z0-9_]*$"


class MenuButton(Strict):
    """A menu entry: a CLICK key the bot handles, a VIEW url, or a group of sub-buttons."""

    name: str
    key: str | None = Field(default=None, pattern=MENU_KEY)
    url: str | None = None
    sub: list["MenuButton"] = []

    @model_validator(mode="after")
    def _one_kind(self) -> "MenuButton":
        kinds = [bool(self.key), bool(self.url), bool(self.sub)]
        if sum(kinds) != 1:
            raise ValueError(f"button '{self.name}' needs exactly one of key, url or sub")
        return self


def wechat_name_width(name: str) -> int:
    """WeChat counts a Chinese character as two units and an ASCII character as one."""
    return sum(1 if ord(ch) < 128 else 2 for ch in name)


class Menu(Strict):
    """The custom menu: at most 3 buttons of at most 5 sub-buttons, names within WeChat's limits."""

    buttons: list[MenuButton] = Field(min_length=1, max_length=3)

    @model_validator(mode="after")
    def _limits(self) -> "Menu":
        for b in self.buttons:
            if wechat_name_width(b.name) > 8:
                raise ValueError(f"top button '{b.name}' is longer than 4 Chinese characters")
            if len(b.sub) > 5:
                raise ValueError(f"button '{b.name}' has {len(b.sub)} sub-buttons; WeChat allows 5")
            for s in b.sub:
                if s.sub:
                    raise ValueError(f"sub-button '{s.name}' cannot have sub-buttons")
                if wechat_name_width(s.name) > 14:
                    raise ValueError(f"sub-button '{s.name}' is longer than 7 Chinese characters")
        return self

    def keys(self) -> list[str]:
        out: list[str] = []
        for b in self.buttons:
            out += [b.key] if b.key else [s.key for s in b.sub if s.key]
        return out


class Synonym(Strict):
    means: str = Field(min_length=1)
    words: list[str] = Field(min_length=1)


class DirectionFamily(Strict):
    """Opposite ways of one kind of matter (转入/转出), each with the words people use for it."""

    family: str
    ways: dict[str, list[str]] = Field(min_length=2)


class Lexicon(Strict):
    """The words citizens use: synonyms, direction words and problem-report cues (lexicon.yaml)."""

    synonyms: list[Synonym] = []
    directions: list[DirectionFamily] = []
    report_cues: list[str] = []
    report_examples: list[str] = []

    @model_validator(mode="after")
    def _no_word_twice(self) -> "Lexicon":
        seen: dict[str, str] = {}
        for s in self.synonyms:
            for w in s.words:
                if w in seen and seen[w] != s.means:
                    raise ValueError(f"synonym '{w}' means both '{seen[w]}' and '{s.means}'")
                seen[w] = s.means
        return self


class Notice(Strict):
    """How far ahead a resource must be booked: calendar minutes before the slot starts, or whole
    working days between the day of booking and the day of the slot (a holiday does not count)."""

    minutes: int | None = Field(default=None, ge=0)
    working_days: int | None = Field(default=None, ge=0)
    says: str = Field(description="the rule in the center's words, e.g. 提前半天（4小时）")

    @model_validator(mode="after")
    def _one(self) -> "Notice":
        if (self.minutes is None) == (self.working_days is None):
            raise ValueError("give exactly one of minutes or working_days")
        return self


class Resource(Strict):
    """A bookable room or piece of equipment."""

    id: str = Field(pattern=_ID)
    code: str = Field(pattern=r"^[A-Z]{1,3}$", description="letters that start its booking codes")
    name: str
    aliases: list[str] = []
    location: str
    capacity: int = Field(ge=1, description="people (or sets) per slot")
    slot_minutes: int = Field(ge=0, description="0 = one slot per opening period (上午/下午)")
    hours: Hours | None = None  # default: the center's hours
    notice: Notice
    horizon_days: int = Field(default=14, ge=1, le=90)
    cancel_before_minutes: int = Field(default=60, ge=0)
    per_person_per_day: int = Field(default=1, ge=1)
    per_person_open: int = Field(default=3, ge=1)
    approval: bool = False
    staff: list[str] = Field(default=[], description="names in the staff roster told of bookings")
    note: str = ""


class ResourceFile(Strict):
    resources: list[Resource] = Field(min_length=1)
    max_no_shows: int = Field(default=3, ge=1, description="no-shows in 90 days that stop new bookings")

    @model_validator(mode="after")
    def _unique(self) -> "ResourceFile":
        for attr in ("id", "code"):
            values = [getattr(r, attr) for r in self.resources]
            dup = {v for v in values if values.count(v) > 1}
            if dup:
                raise ValueError(f"resource {attr} used twice: {', '.join(sorted(dup))}")
        return self

"""What citizens asked: every consultation question with the answer it got and how it went (answered,
unsure, 都不是, a runner-up chosen, unanswered), scrubbed of names and numbers, for the keepers' queue.

Key layout (prefix `centerbot:`):
  {asked}:log      sorted set by time: entry ids, the newest kept (KEEP)
  {asked}:e:<id>   hash: time, question, outcome, matter, choices, mark, filed
"""
from __future__ import annotations

import json
import random
import re
import uuid
from typing import Any

KEEP = 5000
# personal data a question may carry: phone numbers, ID-card numbers, a name given about oneself
_PHONE = re.compile(r"(?<!\d)(?:1[3-9]\d{9}|0\d{2,3}-?\d{7,8})(?!\d)")
_ID_CARD = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_NAME = re.compile(r"(我叫|我是|本人|姓名[:：]?|名字[是叫]?|叫做)([\u4e00-\u9fff]{2,3})(?=[，,。！!？?\s]|$|，)")
_GREETING = re.compile(r"^(你好|您好|在吗|在不在|有人吗|谢谢|感谢|好的|嗯|哦|hi|hello|早上好|下午好|晚上好)+[!！。.~～\s]*$", re.I)
_REPLY = re.compile(r"^(都不是|都不对|不是|没有|以上都不是|都没有|都有|\d{1,2}|[\d\s,，、]+)$")  # replies to a list, not questions
_SURNAMES = set("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")


def scrub(text: str) -> str:
    """The question without phone numbers, ID-card numbers or a name the citizen gave."""
    text = _ID_CARD.sub("[证件号]", text)
    text = _PHONE.sub("[电话]", text)
    text = _NAME.sub(lambda m: m[1] + "[姓名]", text)
    return text.strip()[:200]


def worth_keeping(text: str) -> bool:
    """Greetings and a bare name (a reply to 请问您怎么称呼) say nothing about what is asked."""
    t = text.strip()
    if not t or _GREETING.match(t) or _REPLY.match(t):
        return False
    return not (2 <= len(t) <= 3 and t[0] in _SURNAMES and all("\u4e00" <= ch <= "\u9fff" for ch in t))


MARKS = {"answered": "已回答", "unsure": "未确定（列出多个）", "none": "都不是", "runner_up": "选了其他事项",
         "unanswered": "未能回答", "referred": "转介"}


class AskedLog:
    def __init__(self, store):
        self.s = store
        self.r = store.r

    def _e(self, entry_id: str) -> str:
        return self.s.key("asked", "e", entry_id)

    def log(self, question: str, outcome: str, matter: str = "", choices: list[str] = ()) -> str | None:
        """Keep one consultation question (scrubbed); None when it is not worth keeping."""
        if not worth_keeping(question):
            return None
        entry_id = uuid.uuid4().hex[:12]
        now = self.s.clock.timestamp()
        mark = {"answer": "answered", "ask": "unsure", "fallback": "unanswered", "refer": "referred"}.get(outcome, outcome)
        entry = {"time": now, "question": scrub(question), "outcome": outcome, "matter": matter,
                 "choices": json.dumps(list(choices)), "mark": mark, "filed": ""}

        def write(p) -> None:
            p.hset(self._e(entry_id), mapping=entry)
            p.zadd(self.s.key("asked", "log"), {entry_id: now})

        if not self.s.put_off(write):  # written with the message's finishing round trip, or now
            with self.r.pipeline(transaction=False) as p:
                write(p)
                p.execute()
        if random.random() < 0.01:  # trimmed now and then: one round trip per question, not two
            self._trim()
        return entry_id

    def _trim(self) -> None:
        old = self.r.zrange(self.s.key("asked", "log"), 0, -KEEP - 1)
        if old:
            self.r.zrem(self.s.key("asked", "log"), *old)
            self.r.delete(*[self._e(i) for i in old])

    def mark(self, entry_id: str, mark: str, matter: str = "") -> None:
        """How it went afterwards: 都不是, a runner-up chosen (with the matter chosen)."""
        if entry_id and self.r.exists(self._e(entry_id)):
            values = {"mark": mark}
            if matter:
                values["chosen"] = matter
            self.r.hset(self._e(entry_id), mapping=values)

    def filed(self, entry_id: str, matter: str) -> None:
        self.r.hset(self._e(entry_id), "filed", matter)

    def get(self, entry_id: str) -> dict[str, Any] | None:
        row = self.r.hgetall(self._e(entry_id))
        return {**row, "id": entry_id, "choices": json.loads(row.get("choices") or "[]")} if row else None

    def recent(self, limit: int = 200, marks: set[str] | None = None) -> list[dict[str, Any]]:
        ids = self.r.zrevrange(self.s.key("asked", "log"), 0, 4 * limit if marks else limit - 1)
        with self.r.pipeline(transaction=False) as p:
            for i in ids:
                p.hgetall(self._e(i))
            rows = p.execute()
        out = [{**row, "id": i, "choices": json.loads(row.get("choices") or "[]")} for i, row in zip(ids, rows) if row]
        if marks:
            out = [r for r in out if r["mark"] in marks]
        return out[:limit]

"""Plays the multi-turn conversation set through the handlers and reports the share reaching the goal.

`python -m tests.eval.conversations` plays tests/eval/conversations.yaml: every scenario runs through
`handlers.dispatch.handle_message` (pure dispatch, no HTTP) against a real Redis server (a private
redis-server, or REDIS_URL), flushed before each scenario, with the clock fixed at the scenario's `at`
(default Monday 2026-11-23 09:30, as tests/conftest.py). It prints the share of scenarios that reach
what the citizen wanted, for the `tune` and the `holdout` parts separately, and the share of turns
marked `nomatter` (a message about no matter at all) that were answered with a matter's notification.

Misses are printed for the tune part only (`--show-holdout` prints them for the holdout too: do not
use it while tuning). `--only ID` plays one scenario and prints the whole dialogue.

The set's format (each scenario):
  id, part (tune | holdout), at (optional "YYYY-MM-DD HH:MM"), turns, expect.
  A turn is a message, or a mapping {say, has, any, lacks, matter, nomatter}: `has` lists texts the
  reply must all contain, `any` texts of which it must contain one, `lacks` texts it must not contain,
  `matter` a matter id whose notification it must be, `nomatter` that it must not be any matter's
  notification. `{no}` in a message is the citizen's latest record number, `{code}` the latest booking.
  `expect` (checked after the last turn): `record` (a record of the citizen with these fields; `content_has`
  a part of its content), `records` (how many), `record_status` (of the latest record), `booking`
  (fields of a booking), `bookings` (how many), `booking_status`, `flow` (the session's flow state, null
  for none), `asking` (the slot the form waits for).
Every reply is also checked never to be a numbered list of one item.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SET = Path(__file__).resolve().parent / "conversations.yaml"
SAMPLE = Path(__file__).resolve().parents[2] / "knowledge" / "sample"
DEFAULT_AT = dt.datetime(2026, 11, 23, 9, 30)
OPENID = "o_eval_citizen"
_NOTICE = re.compile(r"/notice/([a-z0-9-]+)")


def _one_like(expect: dict, kind: str, items: list[dict], shown: tuple[str, ...]) -> list[str]:
    """`expect[kind]`: one of the items has these fields (a record's `content_has`: its content holds
    that text); `expect[kind + "_status"]`: the latest item's status."""
    why = []
    if kind in expect:
        want = dict(expect[kind])
        content = want.pop("content_has", None)
        found = [i for i in items if all(str(i.get(k, "")) == str(v) for k, v in want.items())
                 and (content is None or content in i.get("content", ""))]
        if not found:
            why.append(f"no {kind} with {expect[kind]}; {kind}s: {[{k: i.get(k) for k in shown} for i in items]}")
    if f"{kind}_status" in expect:
        status = items[-1]["status"] if items else None
        if status != expect[f"{kind}_status"]:
            why.append(f"latest {kind} status {status}, expected {expect[f'{kind}_status']}")
    return why


@dataclass
class Outcome:
    ok: bool
    why: list[str] = field(default_factory=list)
    dialogue: list[tuple[str, str]] = field(default_factory=list)
    nomatter_turns: int = 0
    nomatter_answered_with_matter: int = 0


def load_set(path: Path = SET) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def list_of_one(text: str) -> bool:
    """A reply that offers a numbered list with a single item."""
    numbers = re.findall(r"^\s*(\d{1,2})[.、]\s*\S", text, re.M)
    return numbers == ["1"]


class Player:
    def __init__(self, redis_url: str):
        from handlers.clock import FixedClock
        from bot.store import Store, connect
        from handlers.context import Context
        from knowledge.loader import load

        self.client = connect(redis_url)
        self.clock = FixedClock(DEFAULT_AT)
        self.store = Store(self.client, self.clock)
        self.ctx = Context.build(load(SAMPLE), self.store, self.clock, "https://bot.example.cn")
        self.msg_id = 1000

    def play(self, scenario: dict) -> Outcome:
        from handlers.dispatch import handle_message
        from handlers.message import Message

        self.client.flushall()
        at = scenario.get("at")
        self.clock.set(dt.datetime.strptime(at, "%Y-%m-%d %H:%M") if at else DEFAULT_AT)
        session: dict[str, Any] = {}
        out = Outcome(ok=True)
        for raw in scenario["turns"]:
            turn = dict(raw) if isinstance(raw, dict) else {"say": str(raw)}
            text = self._fill(str(turn["say"]))
            self.msg_id += 1
            message = Message(openid=OPENID, kind="text", text=text, msg_id=self.msg_id,
                              create_time=int(self.clock.timestamp()))
            try:
                reply, new_session = handle_message(message, session, self.ctx)
            except Exception as exc:  # a crash is a failed scenario, not a failed run
                out.ok = False
                out.why.append(f"{text!r} raised {type(exc).__name__}: {exc}")
                out.dialogue.append((text, f"<{type(exc).__name__}>"))
                return out
            session = new_session or {}
            said = "\n".join([reply.text, *reply.followups])
            out.dialogue.append((text, said))
            out.why += self._check_turn(text, said, turn, out)
            self.clock.advance(seconds=20)
        out.why += self._check_goal(scenario.get("expect") or {}, session)
        out.ok = not out.why
        return out

    def _fill(self, text: str) -> str:
        if "{no}" in text:
            mine = self.store.records.of_user(OPENID)
            text = text.replace("{no}", mine[-1]["no"] if mine else "XX00000000-0000")
        if "{code}" in text:
            mine = self._bookings()
            text = text.replace("{code}", mine[-1]["code"] if mine else "X000000000")
        return text

    def _bookings(self) -> list[dict]:
        return self.store.bookings.of_user(OPENID, 0)

    def _check_turn(self, text: str, said: str, turn: dict, out: Outcome) -> list[str]:
        why = []
        short = said.replace("\n", " ")[:160]
        for want in turn.get("has", []):
            if want not in said:
                why.append(f"{text!r}: reply lacks {want!r}: {short}")
        if turn.get("any") and not any(w in said for w in turn["any"]):
            why.append(f"{text!r}: reply has none of {turn['any']}: {short}")
        for bad in turn.get("lacks", []):
            if bad in said:
                why.append(f"{text!r}: reply has {bad!r}: {short}")
        notices = _NOTICE.findall(said)
        if turn.get("matter") and turn["matter"] not in notices:
            why.append(f"{text!r}: expected the notification of {turn['matter']}: {short}")
        if turn.get("nomatter"):
            out.nomatter_turns += 1
            if notices:
                out.nomatter_answered_with_matter += 1
                why.append(f"{text!r}: answered with a matter's notification ({notices[0]}): {short}")
        if list_of_one(said):
            why.append(f"{text!r}: a numbered list of one: {short}")
        return why

    def _check_goal(self, expect: dict, session: dict) -> list[str]:
        why = []
        records = self.store.records.of_user(OPENID)
        if "records" in expect and len(records) != expect["records"]:
            why.append(f"expected {expect['records']} records, found {len(records)}: "
                       f"{[(r['type'], r.get('name')) for r in records]}")
        why += _one_like(expect, "record", records, ("type", "name", "phone", "matter", "mode", "content"))
        bookings = self._bookings()
        if "bookings" in expect and len(bookings) != expect["bookings"]:
            why.append(f"expected {expect['bookings']} bookings, found {len(bookings)}")
        why += _one_like(expect, "booking", bookings, ("resource", "date", "start", "name", "phone", "status"))
        if "flow" in expect and session.get("flow") != expect["flow"]:
            why.append(f"session flow {session.get('flow')}, expected {expect['flow']}")
        if "asking" in expect and (session.get("slots") or {}).get("asking") != expect["asking"]:
            why.append(f"form asking {(session.get('slots') or {}).get('asking')}, expected {expect['asking']}")
        return why


def run(scenarios: list[dict], redis_url: str, show: set[str], only: str | None = None) -> dict[str, Any]:
    player = Player(redis_url)
    totals: dict[str, list[int]] = {}
    nomatter = [0, 0]
    for sc in scenarios:
        if only and sc["id"] != only:
            continue
        out = player.play(sc)
        part = sc.get("part", "tune")
        t = totals.setdefault(part, [0, 0])
        t[0] += out.ok
        t[1] += 1
        nomatter[0] += out.nomatter_answered_with_matter
        nomatter[1] += out.nomatter_turns
        if only:
            for said, got in out.dialogue:
                print(f">> {said}\n{got}\n")
        if not out.ok and (part in show or only):
            print(f"MISS {sc['id']} ({part}): " + " | ".join(out.why))
    return {"parts": totals, "nomatter": nomatter}


def main(argv: list[str]) -> int:
    from bot.embedded_redis import temporary_server

    only = argv[argv.index("--only") + 1] if "--only" in argv else None
    show = {"tune", "holdout"} if "--show-holdout" in argv else {"tune"}
    scenarios = load_set()
    ids = [s["id"] for s in scenarios]
    assert len(ids) == len(set(ids)), "scenario ids must be unique"
    if os.environ.get("REDIS_URL"):
        result = run(scenarios, os.environ["REDIS_URL"], show, only)
    else:
        with temporary_server(fsync="no") as url:
            result = run(scenarios, url, show, only)
    for part in ("tune", "holdout"):
        ok, n = result["parts"].get(part, [0, 0])
        print(f"{part}: {ok}/{n} scenarios reach the goal = {ok / max(n, 1):.1%}")
    bad, n = result["nomatter"]
    print(f"messages about no matter answered with a matter's notification: {bad}/{n} = {bad / max(n, 1):.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

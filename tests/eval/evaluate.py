"""Scores the matcher on the evaluation set; `python -m tests.eval.evaluate` prints the misses.

`--fresh` scores tests/eval/fresh.yaml instead: a second set written before the issue-3 tuning and
never tuned on, to see whether a change helps questions the matcher was not fitted to.
`--fresh2` scores tests/eval/fresh2.yaml: 172 questions written on 2026-12-03, after the issue-16
conversation work, by a tester who saw only the matters' and units' names (never the matcher, the
base's words or the other sets); never tuned on.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from knowledge.matcher import Matcher

QUESTIONS = Path(__file__).resolve().parent / "questions.yaml"
FRESH = Path(__file__).resolve().parent / "fresh.yaml"
FRESH2 = Path(__file__).resolve().parent / "fresh2.yaml"
SETS = {"--fresh": FRESH, "--fresh2": FRESH2}


@dataclass
class Report:
    in_scope: int = 0
    top1: int = 0
    top3: int = 0
    ask_total: int = 0
    ask_ok: int = 0
    out_of_scope: int = 0
    wrong_answers: int = 0  # out-of-scope questions answered with a matter
    routed: int = 0  # refer/report/fallback questions given the expected outcome (and unit)
    misses: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"in-scope top-1 {self.top1}/{self.in_scope} = {self.top1 / max(self.in_scope, 1):.1%}, "
                f"top-3 {self.top3}/{self.in_scope} = {self.top3 / max(self.in_scope, 1):.1%}; "
                f"ambiguous asked {self.ask_ok}/{self.ask_total}; "
                f"out-of-scope wrongly answered {self.wrong_answers}/{self.out_of_scope} = "
                f"{self.wrong_answers / max(self.out_of_scope, 1):.1%}, routed as expected "
                f"{self.routed}/{self.out_of_scope}")


def load_questions(path: Path = QUESTIONS) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def evaluate(matcher: Matcher, items: list[dict]) -> Report:
    rep = Report()
    for item in items:
        q, expect = item["q"], item["expect"]
        res = matcher.match(q)
        ids = [c.matter.id for c in res.candidates]
        got = f"{res.outcome}:{','.join(ids[:3])}" + (f" unit={res.unit.id}" if res.unit else "")
        if expect == "ask":
            rep.ask_total += 1
            among = set(item["among"])
            if res.outcome == "ask" and among <= set(ids):
                rep.ask_ok += 1
            else:
                rep.misses.append(f"ASK    {q!r}: expected ask {sorted(among)}, got {got}")
        elif expect in ("refer", "report", "fallback"):
            rep.out_of_scope += 1
            if res.outcome == "answer":
                rep.wrong_answers += 1
            ok = res.outcome == expect and (expect != "refer" or (res.unit and res.unit.id == item["unit"]))
            rep.routed += bool(ok)
            if not ok:
                want = expect + (f" unit={item['unit']}" if expect == "refer" else "")
                rep.misses.append(f"{'WRONG' if res.outcome == 'answer' else 'ROUTE'}  {q!r}: expected {want}, got {got}")
        else:
            rep.in_scope += 1
            if res.outcome == "answer" and ids[0] == expect:
                rep.top1 += 1
            else:
                rep.misses.append(f"TOP1   {q!r}: expected {expect}, got {got}")
            if expect in ids[:3] and res.outcome in ("answer", "ask"):
                rep.top3 += 1
    return rep


if __name__ == "__main__":
    from knowledge.loader import load

    args = [a for a in sys.argv[1:] if a not in SETS]
    root = Path(args[0]) if args else Path(__file__).resolve().parents[2] / "knowledge" / "sample"
    report = evaluate(Matcher(load(root)), load_questions(next((SETS[a] for a in sys.argv[1:] if a in SETS), QUESTIONS)))
    print("\n".join(report.misses))
    print(report.summary())

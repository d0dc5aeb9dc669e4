"""Matcher latency on the sample base, the 1,135 real matter names of a district catalogue, and a
10,000-matter synthetic base: the rows of its section of BENCHMARKS.md (`python -m bench`)."""
from __future__ import annotations

import json
import random
import statistics
import time
from pathlib import Path

from knowledge.loader import KnowledgeBase, load
from knowledge.matcher import Matcher
from knowledge.schema import Matter, TimeLimit
from tests.eval.evaluate import load_questions

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "knowledge" / "sample"
# shared/ beside the clone (or beside the folder of worktrees a clone may sit in)
GUANGAN = next((d / "shared" / "data" / "guangan-matter-names.json" for d in (ROOT.parent, ROOT.parent.parent)
                if (d / "shared" / "data" / "guangan-matter-names.json").exists()),
               ROOT.parent / "shared" / "data" / "guangan-matter-names.json")
CACHE = ROOT / "var" / "bench-cache"
VARIANTS = ("", "（新办）", "（变更）", "（注销）", "（补办）", "（延续）", "（市级）", "（县级）", "（乡镇）")


def catalogue_base(sample: KnowledgeBase, names: list[tuple[str, str]]) -> KnowledgeBase:
    """A base of bare matters (name, department) on the sample center, like a real catalogue."""
    window = sample.center.windows[0].id
    matters = {}
    for i, (name, dept) in enumerate(names):
        matters[f"m{i}"] = Matter(id=f"m{i}", name=name, category=dept, department=dept, window=window,
                                  type="承诺件", legal_basis=["示例"], procedure=["受理"],
                                  time_limit=TimeLimit(promised_days=1))
    return KnowledgeBase(center=sample.center, matters=matters, menu=sample.menu, source=SAMPLE,
                         lexicon=sample.lexicon)


def guangan_names() -> list[tuple[str, str]]:
    rows = json.loads(GUANGAN.read_text(encoding="utf-8"))
    seen, out = set(), []
    for row in rows:
        if row["name"] not in seen:
            seen.add(row["name"])
            out.append((row["name"], row["department"]))
    return out


def synthetic_names(base: list[tuple[str, str]], count: int) -> list[tuple[str, str]]:
    """Real names crossed with the variants a catalogue has (新办/变更/注销 …), up to `count`."""
    out, seen = [], set()
    for variant in VARIANTS:
        for name, dept in base:
            full = name + variant
            if full not in seen:
                seen.add(full)
                out.append((full, dept))
            if len(out) == count:
                return out
    return out


def questions_for(names: list[tuple[str, str]], rng: random.Random, n: int = 300) -> list[str]:
    """Questions written from catalogue names: fragments, a dropped or swapped character, fillers."""
    out = []
    for name, _ in rng.sample(names, min(n, len(names))):
        core = name.split("（")[0]
        choice = rng.random()
        if choice < 0.3 and len(core) > 6:
            start = rng.randrange(0, len(core) - 4)
            q = core[start:start + rng.randint(4, 6)]
        elif choice < 0.6 and len(core) > 3:
            i = rng.randrange(len(core))
            q = core[:i] + core[i + 1:]
        else:
            q = core
        out.append(rng.choice(("", "请问", "我想")) + q + rng.choice(("", "怎么办理", "需要什么材料", "在哪办")))
    return out


def timings(matcher: Matcher, questions: list[str], rounds: int = 3) -> dict:
    samples, semantic_used = [], 0
    for q in questions[:20]:
        matcher.match(q)  # warm up
    for _ in range(rounds):
        matcher.clear_caches()  # measure matching and embeddings, not the repeat-question caches
        for q in questions:
            t = time.perf_counter()
            matcher.match(q)
            samples.append((time.perf_counter() - t) * 1000)
    if matcher.semantic is not None:
        for q in questions:
            sheet = matcher.score(q, q)
            semantic_used += sheet.best_similarity > 0
    samples.sort()
    return {
        "n": len(samples),
        "p50": statistics.median(samples),
        "p99": samples[int(len(samples) * 0.99) - 1],
        "mean": statistics.fmean(samples),
        "semantic_share": semantic_used / len(questions) if matcher.semantic is not None else 0.0,
    }


def run() -> list[str]:
    rng = random.Random(20261122)
    sample = load(SAMPLE)
    citizen = [item["q"] for item in load_questions()]
    guangan = guangan_names()
    bases = [
        ("sample", sample, citizen),
        ("guangan-1135", catalogue_base(sample, guangan), questions_for(guangan, rng) + citizen),
        ("synthetic-10000", catalogue_base(sample, synthetic_names(guangan, 10000)),
         questions_for(synthetic_names(guangan, 10000), rng) + citizen),
    ]
    lines = ["| base | matters | channels | questions | build s | p50 ms | p99 ms | mean ms | semantic used |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, kb, questions in bases:
        modes = [("lexical", False)]
        if name != "synthetic-10000":  # embedding 10,000 passages takes ~15 minutes on this machine
            modes.append(("lexical+semantic", None))
        for label, semantic in modes:
            t = time.perf_counter()
            matcher = Matcher(kb, semantic=semantic, cache_dir=CACHE)
            if label == "lexical+semantic" and matcher.semantic is None:
                continue  # the semantic extra is not installed
            build = time.perf_counter() - t
            r = timings(matcher, questions)
            lines.append(f"| {name} | {len(kb.matters)} | {label} | {len(questions)} | {build:.1f} | "
                         f"{r['p50']:.2f} | {r['p99']:.2f} | {r['mean']:.2f} | {r['semantic_share']:.0%} |")
            print(lines[-1], flush=True)
    return lines

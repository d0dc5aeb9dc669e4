"""Finds the matter a citizen's question is about: normalize the text, score every matter, decide."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import opencc
from rapidfuzz import fuzz

from knowledge.loader import KnowledgeBase
from knowledge.schema import Matter

# Words that carry no meaning for matching; longest first so 怎么办 goes before 怎么.
FILLERS = sorted(
    """请问 你好 您好 我想 我要 想要 想问 问一下 咨询 一下 怎么办理 怎么办 怎么样 怎么 如何 怎样 需要 需不需要
    要不要 什么 啥 哪些 哪个 哪里 在哪 吗 呢 吧 啊 呀 的 了 办理 手续 流程 材料 资料 可以 能不能 能否""".split(),
    key=len,
    reverse=True,
)
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)

Outcome = Literal["answer", "ask", "fallback"]

ANSWER_AT = 80.0  # a top score at least this high, clearly ahead of the next, answers
CLEAR_LEAD = 8.0
ASK_AT = 60.0  # candidates at least this high are offered in a numbered list
MAX_CHOICES = 5


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def normalize(text: str, strip_fillers: bool = True) -> str:
    """Full-width to half-width, traditional to simplified, lower case, no punctuation or fillers."""
    text = unicodedata.normalize("NFKC", text)
    text = _t2s().convert(text).lower()
    text = _PUNCT.sub("", text)
    if strip_fillers:
        stripped = text
        for word in FILLERS:
            stripped = stripped.replace(word, "")
        # a question made only of fillers ("怎么办") keeps its words
        text = stripped or text
    return text


@dataclass(frozen=True)
class Candidate:
    matter: Matter
    score: float


@dataclass(frozen=True)
class MatchResult:
    outcome: Outcome
    candidates: tuple[Candidate, ...]
    query: str

    @property
    def best(self) -> Matter | None:
        return self.candidates[0].matter if self.candidates else None


def term_score(query: str, term: str) -> float:
    """How well one normalized term fits the normalized query, 0-100."""
    if not query or not term:
        return 0.0
    full = fuzz.ratio(query, term)
    shorter, longer = sorted((query, term), key=len)
    coverage = len(shorter) / len(longer)
    partial = fuzz.partial_ratio(shorter, longer) * (0.6 + 0.4 * coverage)
    return max(full, partial)


class Matcher:
    """Scores every matter's name, aliases and keywords against a question."""

    def __init__(self, kb: KnowledgeBase):
        self.kb = kb
        self._terms: list[tuple[Matter, tuple[str, ...]]] = []
        for matter in kb.matters.values():
            terms = {normalize(t, strip_fillers=False) for t in (matter.name, *matter.aliases, *matter.keywords)}
            self._terms.append((matter, tuple(t for t in terms if t)))

    def score(self, query: str) -> list[Candidate]:
        scored = []
        for matter, terms in self._terms:
            best = max((term_score(query, t) for t in terms), default=0.0)
            if best > 0:
                scored.append(Candidate(matter, round(best, 1)))
        scored.sort(key=lambda c: (-c.score, c.matter.id))
        return scored

    def match(self, text: str) -> MatchResult:
        query = normalize(text)
        scored = self.score(query)
        if not scored or scored[0].score < ASK_AT:
            return MatchResult("fallback", tuple(scored[:MAX_CHOICES]), query)
        top = scored[0].score
        runner_up = scored[1].score if len(scored) > 1 else 0.0
        if top >= ANSWER_AT and top - runner_up >= CLEAR_LEAD:
            return MatchResult("answer", (scored[0],), query)
        close = [c for c in scored if c.score >= max(ASK_AT, top - 15)][:MAX_CHOICES]
        return MatchResult("ask", tuple(close), query)

    def find_by_name(self, text: str) -> Matter | None:
        """A matter whose name or alias is exactly the (normalized) text, for picks by name."""
        query = normalize(text, strip_fillers=False)
        for matter, terms in self._terms:
            if query == normalize(matter.name, strip_fillers=False) or query in terms:
                return matter
        return None

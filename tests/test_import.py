"""Bring your own center: a 事项清单 workbook imported, checked, merged, exported, reloaded live."""
from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from bot import create_app
from bot.cli import main
from bot.config import Settings
from bot.kb_live import load_current, stores, validator
from bot.store.knowledge import Conflict
from handlers.consult import notification
from handlers.context import Context
from knowledge import cells, importer
from knowledge.loader import KnowledgeError, load
from tests.conftest import SAMPLE, TOKEN, Chat
from bot.peer import WeChatPeer

GD = Path("/work/shared/data/gd-guides.xlsx")
needs_gd = pytest.mark.skipif(not GD.exists(), reason="the shared gd-guides.xlsx is not on this machine")


def workbook(path: Path, rows: list[list], title_rows: list[list] = (), merges: list[str] = (),
             sheet: str = "事项清单") -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    for r in [*title_rows, *rows]:
        ws.append(r)
    for m in merges:
        ws.merge_cells(m)
    wb.save(path)
    return path


HEADER = ["事项编码", "事项名称", "办件类型", "实施机构", "办理依据", "申办条件", "所需材料", "办理程序",
          "法定时限", "承诺时限", "收费标准", "办理地址", "咨询电话"]


def row(code, name, materials="1、居民身份证（原件及复印件）\n2、户口簿复印件1份", promised="5(工作日)", **kw):
    values = dict(zip(HEADER, [code, name, "承诺件", "镇社会事务办", "《某条例》", "本镇户籍居民", materials,
                               "1、受理\n2、审核\n3、办结", "20个工作日", promised, "不收费", "便民服务大厅", "0826-1234500"]))
    values.update(kw)
    return [values[h] for h in HEADER]


# -- reading cells as exports write them -----------------------------------------------------------------
def test_materials_are_read_in_every_numbering_with_form_and_copies():
    for text in ("1、居民身份证（原件及复印件）\n2、户口簿复印件2份\n3、残疾证（如有）",
                 "1.居民身份证（原件及复印件）\n2.户口簿复印件2份\n3.残疾证（如有）",
                 "(1)居民身份证（原件及复印件）(2)户口簿复印件2份(3)残疾证（如有）".replace("(2)", "；(2)").replace("(3)", "；(3)"),
                 "①居民身份证（原件及复印件）\n②户口簿复印件2份\n③残疾证（如有）",
                 "居民身份证（原件及复印件）；户口簿复印件2份；残疾证（如有）"):
        items = [cells.parse_material(t) for t in cells.split_items(text, semicolons=True)]
        assert [m["name"] for m in items] == ["居民身份证", "户口簿", "残疾证"], text
        assert [m["form"] for m in items] == ["原件及复印件", "复印件", ""], text
        assert items[1]["copies"] == 2 and items[2]["required"] is False and items[0]["required"] is True


def test_time_limits_are_read_as_working_days_or_kept_as_words():
    assert cells.parse_days("7(工作日)")[:2] == (7, "")
    assert cells.parse_days("７个工作日")[:2] == (7, "")  # full-width digit
    assert cells.parse_days("即办")[:2] == (0, "")
    assert cells.parse_days("当场办结")[:2] == (0, "")
    assert cells.parse_days("30(自然日)") == (None, "30(自然日)", False)


def test_title_rows_merged_cells_full_width_and_renamed_headers_are_read(tmp_path):
    kb = load(SAMPLE)
    path = workbook(tmp_path / "list.xlsx",
                    [HEADER, row("A1", "测试事项甲"), row("A2", "测试事项乙", 承诺时限="即办")],
                    title_rows=[["某某镇政务服务事项清单（2026年版）"], ["", "", ""]], merges=["A1:F1", "D4:D5"])
    ws_rows = openpyxl.load_workbook(path).active
    assert ws_rows["D5"].value is None  # merged: only the top-left cell holds the department
    reading = importer.read(path, kb.center)
    assert not reading.errors, reading.problems
    assert [r.data["department"] for r in reading.rows] == ["镇社会事务办", "镇社会事务办"]
    assert reading.rows[1].data["time_limit"]["promised_days"] == 0
    assert set(reading.used["事项清单"]) >= {"所需材料", "办理程序", "实施机构", "申办条件"}


def test_unused_columns_are_listed(tmp_path):
    path = workbook(tmp_path / "x.xlsx", [["事项名称", "申请材料", "星级评价", "备用字段"], ["测试事项", "1、身份证", "5", ""]])
    reading = importer.read(path, load(SAMPLE).center)
    assert reading.unused["事项清单"] == ["星级评价", "备用字段"]


def test_a_csv_export_is_read_too(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text(",".join(HEADER) + "\n" + ",".join(f'"{c}"' for c in row("C1", "CSV事项")) + "\n",
                    encoding="utf-8-sig")
    reading = importer.read(path, load(SAMPLE).center)
    assert not reading.errors and reading.rows[0].data["name"] == "CSV事项"


# -- missing elements: warnings, and the citizen is sent to the phone ---------------------------------------
def test_a_missing_element_is_a_warning_and_the_notification_sends_the_citizen_to_the_phone(tmp_path, store, clock):
    kb = load(SAMPLE)
    path = workbook(tmp_path / "x.xlsx", [["事项名称", "实施主体", "申请材料", "承诺办结时限", "咨询电话"],
                                          ["测试缺要素事项", "县某局", "1、申请表", "", "0826-7777777"]])
    reading = importer.read(path, kb.center)
    assert not reading.errors
    texts = [str(p) for p in reading.warnings]
    assert any("no 办理流程 column" in t for t in texts)
    assert any(t.startswith("warning: 事项清单 row 2, column D 承诺办结时限") for t in texts)
    plan = importer.merge(reading, kb.matters, kb.center)
    m = plan.added[0]
    assert set(m.unknown) == {"conditions", "legal_basis", "procedure", "time_limit", "fee"}
    base = load(SAMPLE, {m.id: m.model_dump(mode="json")})
    text = notification(base.matters[m.id], Context.build(base, store, clock, "https://x", )).text
    assert "四、办理流程：请致电0826-7777777咨询" in text
    assert "收费标准：请致电0826-7777777咨询" in text and "不收费" not in text
    assert "1. 申请表" in text


# -- broken workbooks are refused with row and column, and change nothing -----------------------------------
def test_broken_workbooks_get_clear_errors(tmp_path):
    center = load(SAMPLE).center
    wrong = tmp_path / "wrong.xlsx"
    wrong.write_text("this is not a workbook")
    assert "cannot be read as an .xlsx workbook" in str(importer.read(wrong, center).errors[0])
    assert "not an .xlsx or .csv" in str(importer.read(tmp_path / "list.pdf", center).errors[0])
    no_header = workbook(tmp_path / "nh.xlsx", [["甲", "乙"], ["1", "2"]])
    assert "no sheet has a header row" in str(importer.read(no_header, center).errors[0])
    bad = workbook(tmp_path / "bad.xlsx", [HEADER, row("D1", "事项一"), row("D2", ""), row("D1", "事项三")])
    errors = [str(p) for p in importer.read(bad, center).errors]
    assert "error: 事项清单 row 3, column B 事项名称: the matter's name is empty" in errors
    assert "error: 事项清单 row 4, column A 事项编码: 事项编码 'D1' is also on 事项清单 row 2" in errors


@pytest.fixture()
def cli_env(settings_env, tmp_path):
    kdir = tmp_path / "knowledge"
    shutil.copytree(SAMPLE, kdir)
    return {**settings_env, "CENTERBOT_KNOWLEDGE_DIR": str(kdir)}


def run(env, *args):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def overlay_of(env):
    settings = Settings.from_env(env)
    from bot.store import connect

    kstore, _ = stores(settings, connect(env["REDIS_URL"]))
    return kstore.overlay()


def test_a_broken_workbook_changes_nothing_and_check_writes_nothing(tmp_path, cli_env, redis_client):
    bad = workbook(tmp_path / "bad.xlsx", [HEADER, row("D1", "事项一"), row("D1", "事项二")])
    res = run(cli_env, "kb", "import", str(bad))
    assert res.exit_code != 0 and "nothing was imported" in res.output
    good = workbook(tmp_path / "good.xlsx", [HEADER, row("G1", "好事项一")])
    checked = run(cli_env, "kb", "import", "--check", str(good))
    assert checked.exit_code == 0 and "1 new" in checked.output and "nothing was written" in checked.output
    assert overlay_of(cli_env) == (0, {})


def test_import_merges_by_code_or_name_and_replace_retires_after_listing(tmp_path, cli_env, redis_client):
    first = workbook(tmp_path / "a.xlsx", [HEADER, row("M1", "合并事项一"), row("", "合并事项二")])
    assert run(cli_env, "kb", "import", str(first)).exit_code == 0
    version, overlay = overlay_of(cli_env)
    assert version == 1 and len(overlay) == 2
    # the same code under a new name updates; the same name without a code updates; nothing is deleted
    second = workbook(tmp_path / "b.xlsx", [HEADER, row("M1", "合并事项一（改名）", promised="3(工作日)"),
                                            row("", "合并事项二", materials="1、新材料")])
    out = run(cli_env, "kb", "import", str(second)).output
    assert "0 new, 2 changed" in out
    _, overlay = overlay_of(cli_env)
    assert len(overlay) == 2
    names = sorted(m["name"] for m in overlay.values())
    assert names == ["合并事项一（改名）", "合并事项二"]
    # --replace lists what it retires: every sample matter and the second matter are absent
    third = workbook(tmp_path / "c.xlsx", [HEADER, row("M1", "合并事项一（改名）", promised="3(工作日)")])
    out = run(cli_env, "kb", "import", "--replace", "--check", str(third)).output
    assert "retire: party-fee" in out and "retire:" in out and "nothing was written" in out
    out = run(cli_env, "kb", "import", "--replace", str(third)).output
    settings = Settings.from_env(cli_env)
    from bot.store import connect

    kstore, _ = stores(settings, connect(cli_env["REDIS_URL"]))
    _, base = load_current(settings, kstore)
    assert [m.name for m in base.matters.values()] == ["合并事项一（改名）"]
    assert "party-fee" in base.retired


def test_an_export_imports_back_unchanged(tmp_path, cli_env, redis_client):
    path = workbook(tmp_path / "a.xlsx", [HEADER, row("E1", "导出事项", materials="1、身份证（原件，2份，如有）：注明用途")])
    assert run(cli_env, "kb", "import", str(path)).exit_code == 0
    out = tmp_path / "export.xlsx"
    assert run(cli_env, "kb", "export", str(out)).exit_code == 0
    again = run(cli_env, "kb", "import", str(out))
    assert again.exit_code == 0 and "0 new, 0 changed" in again.output and "nothing to change" in again.output


def test_history_and_revert_of_one_change(tmp_path, cli_env, redis_client):
    a = workbook(tmp_path / "a.xlsx", [HEADER, row("H1", "历史事项")])
    b = workbook(tmp_path / "b.xlsx", [HEADER, row("H1", "历史事项", promised="2(工作日)")])
    run(cli_env, "kb", "import", str(a))
    run(cli_env, "kb", "import", str(b))
    history = run(cli_env, "kb", "history").output
    assert "import b.xlsx" in history and "import a.xlsx" in history
    refused = run(cli_env, "kb", "revert", "1")
    assert refused.exit_code != 0 and "changed again since" in refused.output
    assert run(cli_env, "kb", "revert", "2").exit_code == 0
    _, overlay = overlay_of(cli_env)
    assert next(iter(overlay.values()))["time_limit"]["promised_days"] == 5


def test_a_change_that_fails_validation_is_never_stored(cli_env, redis_client):
    settings = Settings.from_env(cli_env)
    kstore, _ = stores(settings, redis_client)
    bad = load(SAMPLE).matters["party-fee"].model_dump(mode="json") | {"window": "no-such-window"}
    with pytest.raises(KnowledgeError) as err:
        kstore.commit({"party-fee": bad}, "test", "bad edit", validate=validator(settings))
    assert "window: no window 'no-such-window'" in str(err.value)
    assert kstore.overlay() == (0, {})


def test_a_second_edit_from_an_old_read_is_told(cli_env, redis_client):
    settings = Settings.from_env(cli_env)
    kstore, _ = stores(settings, redis_client)
    fee = load(SAMPLE).matters["party-fee"].model_dump(mode="json")
    read_rev = kstore.revisions(["party-fee"])
    kstore.commit({"party-fee": fee | {"note": "第一位"}}, "a", "edit", expect=read_rev)
    with pytest.raises(Conflict):
        kstore.commit({"party-fee": fee | {"note": "第二位"}}, "b", "edit", expect=read_rev)
    assert kstore.overlay()[1]["party-fee"]["note"] == "第一位"


def test_yaml_reload_refuses_a_broken_directory(cli_env, redis_client):
    kdir = Path(cli_env["CENTERBOT_KNOWLEDGE_DIR"])
    assert run(cli_env, "kb", "reload").exit_code == 0
    (kdir / "matters" / "party.yaml").write_text("matters: [oops", encoding="utf-8")
    res = run(cli_env, "kb", "reload")
    assert res.exit_code != 0 and "matters/party.yaml" in res.output and "not reloaded" in res.output
    assert overlay_of(cli_env)[0] == 1


# -- live: an import reaches a running app without a restart --------------------------------------------------
def wait_for(predicate, timeout: float = 180.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def test_an_import_reaches_the_running_app_without_a_restart_and_a_bad_base_never_replaces_it(tmp_path, cli_env,
                                                                                               redis_client, monkeypatch):
    monkeypatch.setenv("CENTERBOT_SEMANTIC", "off")  # what is tested is the reload, not the embeddings
    settings = Settings.from_env(cli_env)
    app = create_app(settings)  # builds its own context and follows the base's version
    chat = Chat(app.test_client(), WeChatPeer(TOKEN))
    assert "热带鱼养殖备案" not in chat.send("热带鱼养殖备案")
    path = workbook(tmp_path / "a.xlsx", [HEADER, row("L1", "热带鱼养殖备案", materials="1、养殖场地证明")])
    assert run(cli_env, "kb", "import", str(path)).exit_code == 0
    assert wait_for(lambda: "养殖场地证明" in chat.send("热带鱼养殖备案", user="o_live"))
    # a YAML edit that breaks the base on this host: the process keeps answering from the old base
    kdir = Path(cli_env["CENTERBOT_KNOWLEDGE_DIR"])
    (kdir / "matters" / "party.yaml").write_text("matters: [oops", encoding="utf-8")
    stores(settings, redis_client)[0].bump("test", "a broken YAML edit")
    live = app.extensions["centerbot.live"]
    assert wait_for(lambda: live.watch.seen == "2")
    assert "养殖场地证明" in chat.send("热带鱼养殖备案", user="o_live2")
    assert app.extensions["centerbot"].kb.version == 1
    live.watch.stop()


@needs_gd
@pytest.mark.timeout(1800)  # a cold start embeds the sample and the 284 guides on a busy 2-core machine
def test_the_real_guides_import_with_warnings_only_and_each_answers_with_its_own_materials(store, clock):
    kb = load(SAMPLE)
    reading = importer.read(GD, kb.center)
    plan = importer.merge(reading, kb.matters, kb.center)
    assert not [p for p in plan.problems if p.level == "error"]
    assert len(plan.added) == 284
    base = load(SAMPLE, {m.id: m.model_dump(mode="json") for m in plan.added})
    ctx = Context.build(base, store, clock, "https://x")
    for m in plan.added:
        first = m.materials[0].name
        result = ctx.matcher.match(m.name)
        assert result.outcome == "answer" and result.best.id == m.id, m.name
        assert first in notification(result.best, ctx).text or any(first in f for f in notification(m, ctx).followups)
        plain = re.sub(r"[（(][^（）()]*[)）]", "", m.name)
        if plain != m.name:  # asked without its qualifiers: answered, or offered among its variants
            result = ctx.matcher.match(plain)
            offered = [c.matter.id for c in result.candidates] if result.outcome == "ask" else \
                [result.best.id, *(x.id for x in result.runners_up)]
            assert m.id in offered, (plain, result.outcome, offered)


def _shared_has(env, text: str) -> bool:
    from bot.store import connect

    _, shared = stores(Settings.from_env(env), connect(env["REDIS_URL"]))
    return text in shared.get_many([text])


def test_kb_import_embeds_the_new_matters_before_the_running_bot_switches(tmp_path, cli_env, redis_client):
    """The CLI embeds the changed base (with every core) before it publishes the change: the web workers
    find the new passages in the shared store instead of one of them embedding a whole list."""
    from knowledge import semantic

    if not semantic.available():
        pytest.skip("the semantic extra is not installed")
    name = "候鸟观测站备案登记"
    semantic._memory.pop(name, None)
    path = workbook(tmp_path / "a.xlsx", [HEADER, row("B1", name)])
    out = run(cli_env, "kb", "import", str(path)).output
    assert "embedding" in out and "new passages" in out
    assert _shared_has(cli_env, name) and overlay_of(cli_env)[0] == 1


def test_centerbot_embed_embeds_the_center_made_matters_too_and_shares_them(cli_env, redis_client):
    """`centerbot embed` (gunicorn's master runs it before the workers start) embeds the base in use, the
    YAML with the center-made matters of Redis, into the shared store the other processes wait on."""
    from knowledge import semantic

    if not semantic.available():
        pytest.skip("the semantic extra is not installed")
    settings = Settings.from_env(cli_env)
    kstore, _ = stores(settings, redis_client)
    name = "古树名木认养登记"
    _, base = load_current(settings, kstore)
    template = next(iter(base.matters.values())).model_dump(mode="json")
    kstore.commit({"tree-adopt": {**template, "id": "tree-adopt", "name": name, "keywords": [], "aliases": [],
                                 "code": ""}},
                  "test", "a center-made matter", validate=validator(settings))
    semantic._memory.pop(name, None)
    res = run(cli_env, "embed")
    assert res.exit_code == 0 and "embedding cache" in res.output
    assert _shared_has(cli_env, name)

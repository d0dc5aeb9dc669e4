"""Knowledge-base validation: the sample loads, and every problem is reported with its file and field."""
from __future__ import annotations

import shutil
import textwrap

import pytest
from click.testing import CliRunner

from bot.app import build_context
from bot.cli import main
from bot.config import Settings
from knowledge.loader import KnowledgeError, load
from tests.conftest import SAMPLE


def test_sample_base_covers_the_seeds_services(kb):
    assert kb.center.sample is True
    assert len(kb.matters) >= 25
    names = " ".join(m.name for m in kb.matters.values())
    for service in ["党费", "组织关系转入", "组织关系转出", "入党", "外调", "低保", "临时救助", "养老保险",
                    "医疗保险", "就业登记", "失业登记", "优待证", "生育登记", "宅基地", "林木采伐", "爱心超市"]:
        assert service in names, service


def test_sample_base_has_referral_units_for_what_the_center_does_not_handle(kb):
    topics = {t for u in kb.center.units for t in u.topics}
    for topic in ["身份证", "户口", "护照", "港澳通行证", "驾驶证"]:
        assert topic in topics


@pytest.fixture()
def base(tmp_path):
    root = tmp_path / "kb"
    shutil.copytree(SAMPLE, root)
    return root


def write(path, text):
    path.write_text(textwrap.dedent(text), encoding="utf-8")


def test_errors_name_the_file_the_field_and_the_matter(base):
    first = sorted((base / "matters").glob("*.yaml"))[0]
    data = first.read_text(encoding="utf-8")
    write(base / "matters" / "zz-broken.yaml", """
        matters:
          - id: broken-one
            name: 坏事项
            category: 测试
            department: 测试部门
            window: no-such-window
            type: 即办件
            legal_basis: [某法]
            procedure: [受理]
            time_limit: {promised_days: 0}
            materials:
              - name: 身份证
                form: 传真件
          - id: broken-two
            name: 另一个
            category: 测试
            department: 测试部门
            window: no-such-window
            type: 承诺件
            legal_basis: []
            procedure: [受理]
            time_limit: {promised_days: 30, legal_days: 20}
            colour: red
    """)
    with pytest.raises(KnowledgeError) as err:
        load(base)
    problems = err.value.problems
    text = "\n".join(problems)
    assert "matters/zz-broken.yaml: matters[0].materials[0].form (matter 'broken-one')" in text
    assert "matters[1].legal_basis (matter 'broken-two')" in text
    assert "matters[1].colour (matter 'broken-two')" in text
    assert "promised_days (30) is longer than legal_days (20)" in text
    assert first.read_text(encoding="utf-8") == data  # (the sample itself untouched)


def test_unknown_window_and_duplicate_id_are_reported(base):
    some = next(iter(load(SAMPLE).matters.values()))
    write(base / "matters" / "zz-dup.yaml", f"""
        matters:
          - id: {some.id}
            name: 重复
            category: 测试
            department: 测试部门
            window: {some.window}
            type: 即办件
            legal_basis: [某法]
            procedure: [受理]
            time_limit: {{promised_days: 0}}
          - id: lonely
            name: 孤单
            category: 测试
            department: 测试部门
            window: nowhere
            type: 即办件
            legal_basis: [某法]
            procedure: [受理]
            time_limit: {{promised_days: 0}}
    """)
    with pytest.raises(KnowledgeError) as err:
        load(base)
    text = "\n".join(err.value.problems)
    assert f"'{some.id}' is already defined in" in text
    assert "matters[1].window (matter 'lonely'): no window 'nowhere' in center.yaml" in text


def test_broken_yaml_and_bad_hours_are_reported_with_line_and_field(base):
    (base / "matters" / "zz-syntax.yaml").write_text("matters:\n  - id: [unclosed\n", encoding="utf-8")
    center = (base / "center.yaml").read_text(encoding="utf-8")
    (base / "center.yaml").write_text(center.replace("09:00-12:00", "12:00-09:00"), encoding="utf-8")
    with pytest.raises(KnowledgeError) as err:
        load(base)
    text = "\n".join(err.value.problems)
    assert "matters/zz-syntax.yaml: line" in text
    assert "center.yaml: hours.periods" in text and "ends before it starts" in text


def test_menu_over_wechat_limits_is_refused(base):
    write(base / "menu.yaml", """
        buttons:
          - name: 这是一个很长的菜单
            key: HELP
    """)
    with pytest.raises(KnowledgeError, match="menu.yaml: .*longer than 4 Chinese characters"):
        load(base)


def test_app_refuses_to_start_on_an_invalid_base(base, settings_env):
    (base / "center.yaml").unlink()
    settings = Settings.from_env(dict(settings_env, CENTERBOT_KNOWLEDGE_DIR=str(base)))
    with pytest.raises(KnowledgeError, match="center.yaml: file is missing"):
        build_context(settings)


def test_kb_check_prints_every_problem_at_once(base):
    (base / "center.yaml").unlink()
    (base / "menu.yaml").write_text("buttons: []\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["kb", "check", "--dir", str(base)])
    assert result.exit_code != 0
    assert "center.yaml: file is missing" in result.output
    assert "menu.yaml: buttons" in result.output


def test_kb_check_passes_on_the_sample():
    result = CliRunner().invoke(main, ["kb", "check", "--dir", str(SAMPLE)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok:")


def test_popular_matters_and_category_order_are_checked(base):
    center = (base / "center.yaml").read_text(encoding="utf-8")
    center = center.replace("  - party-fee\n", "  - no-such-matter\n").replace("categories: [党务服务, ", "categories: [")
    (base / "center.yaml").write_text(center, encoding="utf-8")
    with pytest.raises(KnowledgeError) as err:
        load(base)
    text = "\n".join(err.value.problems)
    assert "center.yaml: popular[0]: no matter 'no-such-matter'" in text
    assert "center.yaml: categories: does not list 党务服务" in text


def test_categories_follow_the_order_center_yaml_gives(kb):
    assert kb.categories == [c for c in kb.center.categories if kb.in_category(c)]


NOTIFICATIONS = """
notifications:
  kind: template
  template_id: 3qQ-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789
  fields:
    character_string1: number
    thing2: subject
    phrase3: status
    time4: time
"""


def test_a_center_configures_its_template_message_fields_in_center_yaml(base):
    with open(base / "center.yaml", "a", encoding="utf-8") as f:
        f.write(NOTIFICATIONS)
    [config] = load(base).center.fallbacks
    assert config.kind == "template" and config.fields["phrase3"] == "status"


SEVERAL = """
notifications:
  - kind: subscribe
    template_id: SUB-1
    long_term: true
    fields: {character_string1: number, phrase2: status}
  - kind: template
    template_id: TPL-1
    fields: {character_string1: number, phrase2: status}
"""


def test_a_center_lists_its_notifications_in_the_order_they_are_tried(base):
    center = (base / "center.yaml").read_text(encoding="utf-8")
    (base / "center.yaml").write_text(center + SEVERAL, encoding="utf-8")
    fallbacks = load(base).center.fallbacks
    assert [(c.kind, c.template_id, c.long_term) for c in fallbacks] == [("subscribe", "SUB-1", True),
                                                                          ("template", "TPL-1", False)]
    (base / "center.yaml").write_text(center + SEVERAL.replace("TPL-1", "SUB-1"), encoding="utf-8")
    with pytest.raises(KnowledgeError) as err:
        load(base)
    assert "a template id is listed twice" in "\n".join(err.value.problems)


@pytest.mark.parametrize("change, says", [
    ("    time4: time\n", "    first: subject\n"),
    ("    phrase3: status\n", "    phrase3: subject\n"),
    ("    time4: time\n", "    amount4: number\n"),
    ("  kind: template\n", "  kind: sms\n"),
])
def test_notification_fields_wechat_cannot_show_are_refused_naming_the_field(base, change, says):
    with open(base / "center.yaml", "a", encoding="utf-8") as f:
        f.write(NOTIFICATIONS.replace(change, says))
    with pytest.raises(KnowledgeError) as err:
        load(base)
    text = "\n".join(err.value.problems)
    assert text.startswith("center.yaml: notifications"), text
    name = says.split(":")[0].strip()
    assert name in text or "kind" in text
    if name == "first":
        assert "no longer shows first and remark" in text

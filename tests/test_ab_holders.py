"""AB岗 with several B holders in order ("B岗工作人员可为多人"): center.yaml's one name or list, the holders
set live in the console and the CLI, routing and the takeover along A, B1, B2, ... then the leaders,
回避, window appointments, away periods and the warning when A and every B of a post are away at once."""
from __future__ import annotations

import datetime as dt
import re
import shutil

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.worker import run_jobs
from knowledge.loader import KnowledgeError, load
from tests.conftest import SAMPLE
from tests.test_asked import signed_in
from tests.test_records import complain, last, number_of

pytestmark = pytest.mark.timeout(900)  # the first test to build a context may embed the sample cold


@pytest.fixture()
def staff(store):
    store.add_staff("王芳", "o_wang", role="window")
    store.add_staff("李强", "o_li", role="window")
    store.add_staff("赵敏", "o_zhao", role="delegate")
    store.add_staff("孙丽", "o_sun", role="window")
    store.add_staff("张书记", "o_leader", role="leader")


def away(store, clock, name, days=3):
    store.set_away(name, (clock.now() + dt.timedelta(days=days)).timestamp())


def base_with(tmp_path, old: str, new: str):
    root = tmp_path / "kb"
    shutil.copytree(SAMPLE, root)
    center = root / "center.yaml"
    text = center.read_text(encoding="utf-8")
    assert old in text
    center.write_text(text.replace(old, new), encoding="utf-8")
    return root


COMPLAINT = "complaint: {label: 投诉, prefix: TS, due_days: 5, a: 李强, b: 王芳, leaders: true}"


# -- center.yaml --------------------------------------------------------------------------------------
def test_old_single_b_yaml_still_loads(kb):
    assert kb.center.records.types["complaint"].b == ["王芳"]
    assert kb.center.records.types["complaint"].chain == ["李强", "王芳"]
    assert kb.center.window("civil-affairs").b == ["王芳"]


def test_a_list_of_b_holders_loads_in_order(tmp_path):
    root = base_with(tmp_path, COMPLAINT, COMPLAINT.replace("b: 王芳", "b: [王芳, 赵敏, 孙丽]"))
    assert load(root).center.records.types["complaint"].chain == ["李强", "王芳", "赵敏", "孙丽"]


@pytest.mark.parametrize("b, says", [("[王芳, 王芳]", "王芳 is listed more than once as a B holder"),
                                     ("[王芳, 李强]", "李强 is the A holder and cannot also be a B holder")])
def test_a_b_holder_twice_or_also_the_a_holder_is_refused_naming_the_file_and_field(tmp_path, b, says):
    root = base_with(tmp_path, COMPLAINT, COMPLAINT.replace("b: 王芳", f"b: {b}"))
    with pytest.raises(KnowledgeError) as err:
        load(root)
    assert any(p.startswith("center.yaml: records.types.complaint.b:") and says in p for p in err.value.problems)


# -- routing ------------------------------------------------------------------------------------------
def test_record_goes_to_the_second_b_holder_when_a_and_the_first_b_are_away(chat, store, staff, clock):
    store.set_holders("type:complaint", "李强", ["王芳", "赵敏"])
    away(store, clock, "李强")
    away(store, clock, "王芳")
    done = complain(chat)
    no = number_of(done)
    assert store.records.get(no)["responder"] == "赵敏" and "赵敏" in done
    assert no in last(store, "o_zhao") and no not in last(store, "o_wang")


def test_a_record_goes_to_the_leaders_when_a_and_every_b_are_away(chat, store, staff, clock):
    store.set_holders("type:complaint", "李强", ["王芳", "赵敏"])
    for name in ("李强", "王芳", "赵敏"):
        away(store, clock, name)
    assert store.records.get(number_of(complain(chat)))["responder"] == "张书记"


def test_an_away_period_planned_ahead_does_not_count_before_it_starts(chat, store, staff, clock):
    start = clock.now() + dt.timedelta(days=2)
    store.add_away("李强", start.timestamp(), (start + dt.timedelta(days=2)).timestamp())
    assert store.records.get(number_of(complain(chat, user="o_p1")))["responder"] == "李强"
    clock.advance(days=2)
    assert store.records.get(number_of(complain(chat, user="o_p2")))["responder"] == "王芳"


def test_a_complaint_naming_a_and_the_first_b_goes_to_the_second_b(chat, store, staff):
    store.set_holders("type:complaint", "李强", ["王芳", "赵敏"])
    chat.send("投诉李强和王芳互相推诿，谁都不管", user="o_c2")
    chat.send("张三", user="o_c2")
    record = store.records.get(number_of(chat.send("13800138000", user="o_c2")))
    assert record["responder"] == "赵敏" and set(record["avoid"]) == {"李强", "王芳"}


def test_takeover_passes_to_the_next_b_before_the_leaders(chat, store, staff, clock, ctx):
    store.set_holders("type:complaint", "李强", ["王芳", "赵敏"])
    no = number_of(complain(chat))
    assert store.records.get(no)["responder"] == "李强"
    for holder in ("王芳", "赵敏", "张书记"):
        clock.advance(minutes=31)
        run_jobs(ctx)
        assert store.records.get(no)["responder"] == holder
    assert no in last(store, "o_zhao") and no in last(store, "o_leader")
    actions = [e["action"] for e in store.records.history(no)]
    assert actions.count("转B岗") == 2 and actions.count("转领导") == 1
    clock.advance(minutes=31)
    run_jobs(ctx)
    assert store.records.get(no)["responder"] == "张书记"  # the leaders are the end of the line


def test_takeover_skips_an_away_b_holder_and_stops_when_someone_takes_the_record(chat, store, staff, clock, ctx):
    store.set_holders("type:complaint", "李强", ["王芳", "赵敏"])
    no = number_of(complain(chat))
    away(store, clock, "王芳")
    clock.advance(minutes=31)
    run_jobs(ctx)
    assert store.records.get(no)["responder"] == "赵敏"
    chat.send(f"接单 {no}", user="o_zhao")
    clock.advance(minutes=31)
    run_jobs(ctx)
    record = store.records.get(no)
    assert record["responder"] == "赵敏" and record["status"] == "in_progress"


def test_a_window_appointment_goes_to_the_second_b_holder_when_a_and_the_first_b_are_away(chat, store, staff, clock):
    store.set_holders("window:civil-affairs", "赵敏", ["王芳", "孙丽"])
    away(store, clock, "赵敏")
    away(store, clock, "王芳")
    chat.send("能不能约个延时服务", user="o_b")
    chat.send("低保申请", user="o_b")
    chat.send("周六上午9点", user="o_b")
    chat.send("王大妈", user="o_b")
    no = number_of(chat.send("13700001111", user="o_b"))
    record = store.records.get(no)
    assert record["responder"] == "孙丽" and record["b"] == ["王芳", "孙丽"]


def test_who_handles_a_matter_names_every_b_holder_in_order(chat, store, staff):
    store.set_holders("window:civil-affairs", "赵敏", ["王芳", "孙丽"])
    reply = chat.send("低保是谁负责的", user="o_who")
    assert "A岗：赵敏" in reply and "B岗：王芳、孙丽" in reply and "依次" in reply


# -- the console ----------------------------------------------------------------------------------------
def csrf_of(client) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/staff/kb/staff").get_data(as_text=True))[1]


def test_console_sets_a_and_ordered_b_holders_live_and_refuses_bad_ones(client, chat, store, staff):
    signed_in(client, store, name="张书记", role="leader")
    csrf = csrf_of(client)
    res = client.post("/staff/kb/staff/holders", data={"csrf": csrf, "post": "type:complaint", "a": "王芳",
                                                       "b": ["孙丽", "", "李强"]}, follow_redirects=True)
    assert "B岗依次为孙丽、李强" in res.get_data(as_text=True)
    assert store.holder_overrides()["type:complaint"] == {"a": "王芳", "b": ["孙丽", "李强"]}
    assert store.records.get(number_of(complain(chat)))["responder"] == "王芳"  # no restart
    for b, says in ((["李强", "李强"], "不能重复"), (["王芳"], "不能同时作为B岗"), (["无此人"], "名单中没有无此人")):
        res = client.post("/staff/kb/staff/holders", data={"csrf": csrf, "post": "type:complaint", "a": "王芳",
                                                           "b": b}, follow_redirects=True)
        assert says in res.get_data(as_text=True)
    assert store.holder_overrides()["type:complaint"]["b"] == ["孙丽", "李强"]  # unchanged
    page = client.get("/staff/kb/staff").get_data(as_text=True)
    assert "投诉B1岗" in page and "投诉B2岗" in page
    assert client.post("/staff/kb/staff/remove", data={"csrf": csrf, "name": "孙丽"}).status_code == 302
    assert store.staff("孙丽") is not None  # a B holder is not removed
    client.post("/staff/kb/staff/holders/reset", data={"csrf": csrf, "post": "type:complaint"})
    assert "type:complaint" not in store.holder_overrides()
    assert client.post("/staff/kb/staff/holders", data={"post": "type:complaint", "a": "王芳"}).status_code in (400, 403)


def test_only_leaders_and_admins_set_holders(client, store, staff):
    signed_in(client, store, name="王芳", role="window")
    assert client.post("/staff/kb/staff/holders", data={"post": "type:complaint", "a": "王芳"}).status_code in (400, 403)
    assert "type:complaint" not in store.holder_overrides()


def test_roster_warns_when_a_and_every_b_are_away_together(client, store, staff):
    signed_in(client, store)
    csrf = csrf_of(client)
    client.post("/staff/kb/staff/holders", data={"csrf": csrf, "post": "type:complaint", "a": "李强",
                                                 "b": ["赵敏", "孙丽"]})
    client.post("/staff/kb/staff/away", data={"csrf": csrf, "name": "李强", "from": "2026-12-01", "until": "2026-12-04"})
    client.post("/staff/kb/staff/away", data={"csrf": csrf, "name": "赵敏", "from": "2026-12-02", "until": "2026-12-09"})
    assert 'id="uncovered"' not in client.get("/staff/kb/staff").get_data(as_text=True)  # 孙丽 is there
    res = client.post("/staff/kb/staff/away", data={"csrf": csrf, "name": "孙丽", "from": "2026-12-03",
                                                    "until": "2026-12-07"}, follow_redirects=True)
    text = res.get_data(as_text=True)
    assert "投诉的A岗和B岗12月3日至12月4日都不在岗" in text
    assert "投诉（李强、赵敏、孙丽）：12月3日至12月4日" in text  # the list on the page
    today = client.get("/staff/").get_data(as_text=True)
    assert "投诉的A岗和B岗（李强、赵敏、孙丽）12月3日至12月4日都不在岗" in today
    start, end = re.search(r'name="name" value="孙丽"><input type="hidden" name="start" value="([^"]+)">'
                           r'<input type="hidden" name="end" value="([^"]+)">', text).groups()
    client.post("/staff/kb/staff/away/cancel", data={"csrf": csrf, "name": "孙丽", "start": start, "end": end})
    assert store.away_periods("孙丽") == []
    assert "投诉（" not in client.get("/staff/kb/staff").get_data(as_text=True)


def test_a_weekend_with_everybody_away_is_no_warning(client, store, staff):
    signed_in(client, store)
    csrf = csrf_of(client)
    client.post("/staff/kb/staff/holders", data={"csrf": csrf, "post": "type:complaint", "a": "李强", "b": ["赵敏"]})
    for name in ("李强", "赵敏"):  # Saturday and Sunday, the center is closed
        client.post("/staff/kb/staff/away", data={"csrf": csrf, "name": name, "from": "2026-11-28", "until": "2026-11-29"})
    assert "投诉（" not in client.get("/staff/kb/staff").get_data(as_text=True)


# -- the CLI --------------------------------------------------------------------------------------------
def test_cli_sets_several_b_holders_in_order_and_warns_of_a_post_left_empty(settings_env, chat, store, staff):
    runner = CliRunner()
    out = runner.invoke(main, ["staff", "holders", "complaint", "--a", "李强", "--b", "王芳", "--b", "孙丽"],
                        env=settings_env)
    assert out.exit_code == 0, out.output
    assert store.holder_overrides()["type:complaint"] == {"a": "李强", "b": ["王芳", "孙丽"]}
    refused = runner.invoke(main, ["staff", "holders", "complaint", "--b", "王芳,王芳"], env=settings_env)
    assert refused.exit_code != 0 and "不能重复" in refused.output
    listed = runner.invoke(main, ["staff", "holders"], env=settings_env).output
    assert "type:complaint  投诉  A 李强  B 王芳, 孙丽  (set live)\n" in listed
    store.remove_staff("孙丽")  # a holder removed behind the roster's back is pointed out
    listed = runner.invoke(main, ["staff", "holders"], env=settings_env).output
    assert "type:complaint  投诉  A 李强  B 王芳, 孙丽  (set live)  NOT ON THE ROSTER: 孙丽" in listed
    store.add_staff("孙丽", "o_sun", role="window")
    today = dt.date.today()  # the CLI runs on the real clock: a week ahead has working days
    first, last_day = (today + dt.timedelta(days=1)).isoformat(), (today + dt.timedelta(days=8)).isoformat()
    for name in ("李强", "王芳"):
        runner.invoke(main, ["staff", "away", name, "--until", last_day], env=settings_env)
    out = runner.invoke(main, ["staff", "away", "孙丽", "--from", first, "--until", last_day], env=settings_env)
    assert out.exit_code == 0 and f"away from {first}" in out.output
    assert "warning: 投诉 (type:complaint): A and every B holder (李强, 王芳, 孙丽) are away on" in out.output
    assert store.away_periods("孙丽")[0][0] > 0
    assert runner.invoke(main, ["staff", "holders", "complaint", "--reset"], env=settings_env).exit_code == 0
    assert store.holder_overrides() == {}

"""The staff roster in the console: add, roles, passwords, removal, away periods and the AB岗 warning."""
from __future__ import annotations

import re

import pytest

from tests.test_asked import signed_in


# The first test of a run to build a context embeds the sample's passages from a cold cache (minutes on a
# busy 2-core machine); this module comes early in the suite, so it may be that test.
pytestmark = pytest.mark.timeout(900)


def csrf_of(client, path="/staff/kb/staff") -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).get_data(as_text=True))[1]


def test_a_leader_adds_a_member_with_a_role_and_a_password_who_can_then_sign_in(client, store, app):
    signed_in(client, store)
    csrf = csrf_of(client)
    client.post("/staff/kb/staff/add", data={"csrf": csrf, "name": "孙丽", "openid": "o_sun", "role": "window",
                                             "password": "sun-pass-12345"})
    assert store.staff("孙丽")["role"] == "window" and store.check_password("孙丽", "sun-pass-12345")
    other = app.test_client()
    token = re.search(r'name="csrf" value="([^"]+)"', other.get("/staff/login").get_data(as_text=True))[1]
    res = other.post("/staff/login", data={"csrf": token, "name": "孙丽", "password": "sun-pass-12345"})
    assert res.status_code == 302 and res.headers["Location"].endswith("/staff/")
    client.post("/staff/kb/staff/password", data={"csrf": csrf, "name": "孙丽", "password": "short"})
    assert store.check_password("孙丽", "sun-pass-12345")  # too short: unchanged
    client.post("/staff/kb/staff/remove", data={"csrf": csrf, "name": "孙丽"})
    assert store.staff("孙丽") is None


def test_an_ab_holder_cannot_be_removed_and_a_type_left_uncovered_is_warned(client, store):
    signed_in(client, store)
    store.add_staff("王芳", "o_wang")
    store.add_staff("李强", "o_li")
    csrf = csrf_of(client)
    client.post("/staff/kb/staff/remove", data={"csrf": csrf, "name": "王芳"})
    assert store.staff("王芳") is not None
    client.post("/staff/kb/staff/away", data={"csrf": csrf, "name": "王芳", "until": "2026-11-27"})
    page = client.get("/staff/kb/staff").get_data(as_text=True)
    assert "至2026-11-27" in page and 'id="uncovered"' not in page
    res = client.post("/staff/kb/staff/away", data={"csrf": csrf, "name": "李强", "until": "2026-11-25"},
                      follow_redirects=True)
    text = res.get_data(as_text=True)
    assert "咨询、求助、投诉、举报、建议、综合受理窗口" in text and "的A岗和B岗11月23日至11月25日都不在岗" in text
    client.post("/staff/kb/staff/away", data={"csrf": csrf, "name": "李强", "until": ""})
    assert 'id="uncovered"' not in client.get("/staff/kb/staff").get_data(as_text=True)


def test_the_roster_is_for_leaders_and_admins(client, store):
    signed_in(client, store, name="王芳", role="window")
    assert client.get("/staff/kb/staff").status_code == 403

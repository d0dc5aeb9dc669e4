"""Hostile and odd input through the signed webhook: a 4xx or a polite reply, never a 5xx."""
from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.peer import WeChatPeer
from tests.conftest import TOKEN

ODD_TEXT = st.one_of(
    st.text(max_size=300),
    st.text(alphabet="\u200b\u200c\u200d\ufeff\u202e😀🀄️\U0001F600\x00\x01\x1f<>&\"'#", max_size=50),
    st.sampled_from(["<script>alert(1)</script>", "]]>", "<![CDATA[x]]>", "&amp;&lt;", "预约" * 500, "\n" * 100,
                     "１３８００１３８０００", "取消预约 ZZ99999999", "接单 TS20261123-0001", "绑定 " + "A" * 40]),
)
NO_SHRINK = settings(max_examples=60, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@NO_SHRINK
@given(text=ODD_TEXT)
def test_odd_text_gets_a_polite_reply_or_a_4xx(client, text):
    peer = WeChatPeer(TOKEN)
    args, body = peer.sign(peer.xml("o_fuzz", "text", text))
    res = client.post("/wechat", query_string=args, data=body)
    assert res.status_code < 500, (text, res.data[:200])
    if res.status_code == 200:
        reply = peer.read_reply(res.get_data(as_text=True)).get("Content", "")
        assert len(reply.encode()) <= 2048


@NO_SHRINK
@given(body=st.one_of(st.binary(max_size=2000),
                      st.text(alphabet=string.printable + "<>/![]", max_size=500).map(str.encode),
                      st.builds(lambda inner: f"<xml>{inner}</xml>".encode(), st.text(max_size=300))))
def test_hostile_bodies_get_a_4xx_or_a_reply_never_a_5xx(client, body):
    args, _ = WeChatPeer(TOKEN).sign("")
    res = client.post("/wechat", query_string=args, data=body)
    assert res.status_code < 500, (body[:100], res.status_code)


def test_deeply_nested_xml_is_refused_quickly(client):
    args, _ = WeChatPeer(TOKEN).sign("")
    body = ("<xml>" + "<a>" * 5000 + "</a>" * 5000 + "</xml>").encode()
    assert client.post("/wechat", query_string=args, data=body).status_code in (400, 413)

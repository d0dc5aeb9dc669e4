"""Plays the WeChat server: builds, signs and (in safe mode) encrypts messages, and reads the replies.

Used by `centerbot chat` / `centerbot say` to talk to a running bot, and by the tests.
"""
from __future__ import annotations

import itertools
import random
import string
import time
from dataclasses import dataclass, field

import xmltodict
from wechatpy.crypto import WeChatCrypto

from bot.wechat import msg_signature, signature

_SYSTEM_RANDOM = random.SystemRandom()
_ids = itertools.count(int(time.time() * 1000) % 10**12 * 1000)


def _cdata(value: str) -> str:
    return "<![CDATA[" + str(value).replace("]]>", "]]]]><![CDATA[>") + "]]>"


@dataclass
class WeChatPeer:
    token: str
    aes_key: str | None = None
    app_id: str | None = None
    account: str = "gh_centerbot"
    compatible: bool = False  # safe-mode peer that also sends the plain fields
    last_nonce: str = field(default="", init=False)

    def xml(self, openid: str, kind: str = "text", text: str = "", *, msg_id: int | None = None,
            event: str = "", key: str = "", create_time: int | None = None, **extra: str) -> str:
        """A message as WeChat sends it; events carry no MsgId."""
        fields: dict[str, str] = {
            "ToUserName": _cdata(self.account),
            "FromUserName": _cdata(openid),
            "CreateTime": str(create_time or int(time.time())),
            "MsgType": _cdata(kind),
        }
        if kind == "text":
            fields["Content"] = _cdata(text)
        elif kind == "voice":
            fields.update(MediaId=_cdata("media"), Format=_cdata("amr"), Recognition=_cdata(text))
        elif kind == "image":
            fields.update(PicUrl=_cdata("http://127.0.0.1/p.jpg"), MediaId=_cdata("media"))
        elif kind == "location":
            fields.update(Location_X="30.47", Location_Y="106.63", Scale="15", Label=_cdata("广安"))
        elif kind == "link":
            fields.update(Title=_cdata("链接"), Description=_cdata("说明"), Url=_cdata("http://127.0.0.1/"))
        elif kind in ("video", "shortvideo"):
            fields.update(MediaId=_cdata("media"), ThumbMediaId=_cdata("thumb"))
        elif kind == "event":
            fields["Event"] = _cdata(event)
            if key:
                fields["EventKey"] = _cdata(key)
        for name, value in extra.items():
            fields[name] = _cdata(value)
        if kind != "event":
            fields["MsgId"] = str(msg_id if msg_id is not None else next(_ids))
        return "<xml>" + "".join(f"<{k}>{v}</{k}>" for k, v in fields.items()) + "</xml>"

    def sign(self, body: str, *, timestamp: int | None = None, nonce: str | None = None
             ) -> tuple[dict[str, str], bytes]:
        """Query arguments and body for a POST, as WeChat would send them: signed now with a new nonce
        (each delivery of WeChat's own retries repeats the same arguments and body)."""
        timestamp = str(int(time.time()) if timestamp is None else timestamp)
        nonce = nonce or "".join(_SYSTEM_RANDOM.choices(string.digits, k=10))  # never from a seeded generator
        self.last_nonce = nonce
        args = {"signature": signature(self.token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
                "openid": "o_peer"}
        if not self.aes_key:
            return args, body.encode("utf-8")
        crypto = WeChatCrypto(self.token, self.aes_key, self.app_id)
        envelope = xmltodict.parse(crypto.encrypt_message(body, nonce, timestamp))["xml"]
        encrypt = envelope["Encrypt"]
        args.update(encrypt_type="aes", msg_signature=msg_signature(self.token, timestamp, nonce, encrypt))
        if self.compatible:
            inner = body[len("<xml>"):-len("</xml>")]
            wrapped = f"<xml>{inner}<Encrypt>{_cdata(encrypt)}</Encrypt></xml>"
        else:
            wrapped = f"<xml><ToUserName>{_cdata(self.account)}</ToUserName><Encrypt>{_cdata(encrypt)}</Encrypt></xml>"
        return args, wrapped.encode("utf-8")

    def verify_args(self, echostr: str = "hello") -> dict[str, str]:
        args, _ = self.sign("")
        args["echostr"] = echostr
        return args

    def read_reply(self, body: str) -> dict[str, str]:
        """The reply's fields (decrypted and signature-checked in safe mode); {} for `success`/empty."""
        body = body.strip()
        if not body or body == "success":
            return {}
        doc = xmltodict.parse(body)["xml"]
        if "Encrypt" in doc:
            crypto = WeChatCrypto(self.token, self.aes_key, self.app_id)
            plain = crypto.decrypt_message(body, doc["MsgSignature"], doc["TimeStamp"], doc["Nonce"])
            doc = xmltodict.parse(plain)["xml"]
        return {k: (v if isinstance(v, str) else "") for k, v in doc.items()}

"""WeChat transport: verify signatures, decrypt, parse XML into a Message, and render replies to XML."""
from __future__ import annotations

import hmac
import re
import time
from dataclasses import dataclass
from typing import Mapping

import xmltodict
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.messages import BaseMessage
from wechatpy.replies import TextReply
from wechatpy.utils import WeChatSigner

from bot.config import Settings
from handlers.message import Message

# A DOCTYPE, ENTITY or any markup declaration other than CDATA: refused before any parser runs.
_DECLARATION = re.compile(rb"<!(?!\[CDATA\[)", re.IGNORECASE)
_MAX_TEXT = 4000  # characters of text handed to handlers; WeChat itself caps a message at 2048 bytes


class Forbidden(Exception):
    """The request is not signed by WeChat (403)."""


class BadRequest(Exception):
    """The body is not a WeChat message we can read (400)."""


def _same(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), given.encode())


def check_signature(token: str, args: Mapping[str, str]) -> None:
    """The URL signature: SHA-1 of the sorted token, timestamp and nonce, compared in constant time."""
    timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
    if not timestamp or not nonce:
        raise Forbidden("missing timestamp or nonce")
    signer = WeChatSigner()
    signer.add_data(token, timestamp, nonce)
    if not _same(signer.signature, args.get("signature")):
        raise Forbidden("bad signature")


def verify_url(settings: Settings, args: Mapping[str, str]) -> str:
    """Answer WeChat's URL verification: the echostr, once the signature checks."""
    check_signature(settings.token, args)
    return args.get("echostr", "")


def _parse_xml(body: bytes) -> dict:
    if _DECLARATION.search(body):
        raise BadRequest("markup declarations are not allowed")
    try:
        doc = xmltodict.parse(body, disable_entities=True)
    except Exception as exc:  # expat raises several types for broken XML
        raise BadRequest(f"malformed XML: {type(exc).__name__}") from None
    xml = doc.get("xml") if isinstance(doc, dict) else None
    if not isinstance(xml, dict):
        raise BadRequest("no <xml> root")
    return xml


@dataclass
class Inbound:
    """A verified inbound request: the message, and how to render a reply for it."""

    message: Message
    account: str  # our account's original id (ToUserName)
    encrypted: bool

    def render(self, settings: Settings, text: str, nonce: str | None = None) -> str:
        """The reply body: `success` for no reply, else text XML, encrypted in safe mode."""
        if not text:
            return "success"
        xml = TextReply(source=self.account, target=self.message.openid, content=text,
                        time=int(time.time())).render()
        if not self.encrypted:
            return xml
        crypto = WeChatCrypto(settings.token, settings.encoding_aes_key, settings.app_id)
        return crypto.encrypt_message(xml, nonce or str(int(time.time() * 1000)))


def read_inbound(settings: Settings, args: Mapping[str, str], body: bytes) -> Inbound:
    """Verify and decode a POST from WeChat in plain, compatible or safe mode."""
    check_signature(settings.token, args)
    envelope = _parse_xml(body)
    encrypted = args.get("encrypt_type", "raw").lower() == "aes"
    if encrypted:
        if not settings.safe_mode:
            raise BadRequest("encrypted message but no WECHAT_ENCODING_AES_KEY is configured")
        encrypt = envelope.get("Encrypt")
        if not isinstance(encrypt, str) or not encrypt:
            raise BadRequest("no Encrypt element")
        expected = msg_signature(settings.token, args.get("timestamp"), args.get("nonce"), encrypt)
        if not _same(expected, args.get("msg_signature")):
            raise Forbidden("bad msg_signature")
        crypto = WeChatCrypto(settings.token, settings.encoding_aes_key, settings.app_id)
        try:
            plain = crypto.decrypt_message({"Encrypt": encrypt}, expected, args["timestamp"], args["nonce"])
        except (InvalidSignatureException, InvalidAppIdException):
            raise Forbidden("message not for this app") from None
        except Exception:  # bad padding, bad base64, bad length: not a WeChat message
            raise BadRequest("cannot decrypt") from None
        plain_bytes = plain.encode() if isinstance(plain, str) else plain
        fields = _parse_xml(plain_bytes)
        raw = plain_bytes
    else:
        fields, raw = envelope, body
    if not isinstance(fields.get("FromUserName"), str) or not fields["FromUserName"].strip():
        raise BadRequest("no FromUserName")
    try:
        parsed = parse_message(raw.decode("utf-8"))
    except Exception:
        raise BadRequest("unreadable message") from None
    return Inbound(to_message(parsed, fields), str(fields.get("ToUserName") or ""), encrypted)


def _int(value: object) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0


def to_message(parsed: BaseMessage, fields: dict) -> Message:
    """wechatpy's message object to our small frozen Message."""
    kind = getattr(parsed, "type", "unknown") or "unknown"
    text = ""
    if kind == "text":
        text = str(fields.get("Content") or "")
    elif kind == "voice":
        text = str(fields.get("Recognition") or "")
    event = str(fields.get("Event") or "").lower() if kind == "event" else ""
    key = fields.get("EventKey") or ""
    return Message(
        openid=str(fields["FromUserName"]).strip(),
        kind=kind,
        text=text[:_MAX_TEXT],
        msg_id=_int(fields.get("MsgId")),
        event=event,
        key=str(key) if isinstance(key, str) else "",
        create_time=_int(fields.get("CreateTime")),
    )


def msg_signature(*parts: str) -> str:
    """SHA-1 of the sorted, concatenated parts (safe mode: token, timestamp, nonce, Encrypt), through
    wechatpy's public signer rather than its private `_get_signature`."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature

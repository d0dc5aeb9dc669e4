"""WeChat transport: verify signatures, decrypt, parse XML into a Message, and render replies to XML."""
from __future__ import annotations

import hmac
import re
import time
from dataclasses import dataclass
from typing import Mapping
from xml.parsers import expat as pyexpat

import xmltodict
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.messages import MESSAGE_TYPES, BaseMessage, UnknownMessage
from wechatpy.replies import TextReply
from wechatpy.utils import WeChatSigner

from bot.config import Settings
from handlers.message import Message

_MAX_TEXT = 4000  # characters of text handed to handlers; WeChat itself caps a message at 2048 bytes


class Forbidden(Exception):
    """The request is not signed by WeChat (403)."""


class BadRequest(Exception):
    """The body is not a WeChat message we can read (400)."""


def _same(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), given.encode())


def signature(*parts: str) -> str:
    """WeChat's signature: SHA-1 of its parts sorted and concatenated. The URL's `signature` signs
    (token, timestamp, nonce); safe mode's `msg_signature` signs (token, timestamp, nonce, Encrypt).
    wechatpy's public WeChatSigner computes both."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


def check_signature(token: str, args: Mapping[str, str]) -> None:
    """The URL signature: SHA-1 of the sorted token, timestamp and nonce, compared in constant time."""
    timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
    if not timestamp or not nonce:
        raise Forbidden("missing timestamp or nonce")
    if not _same(signature(token, timestamp, nonce), args.get("signature")):
        raise Forbidden("bad signature")


def check_timestamp(window: float, args: Mapping[str, str], now: float | None = None) -> None:
    """Refuse a request whose timestamp is more than `window` seconds from our clock: WeChat signs the
    moment it sends, so an old (or future) signed URL is someone else's copy."""
    try:
        stamp = int(args.get("timestamp", ""))
    except ValueError:
        raise Forbidden("timestamp is not a number") from None
    if abs((time.time() if now is None else now) - stamp) > window:
        raise Forbidden("timestamp outside the window")


def verify_url(settings: Settings, args: Mapping[str, str]) -> str:
    """Answer WeChat's URL verification: the echostr, once the signature and its time check."""
    check_signature(settings.token, args)
    check_timestamp(settings.timestamp_window, args)
    return args.get("echostr", "")


class _Declaration(Exception):
    """The body has a DOCTYPE (a DTD): WeChat never sends one."""


def _refuse_doctype(*_args) -> None:
    raise _Declaration


class _ExpatWithoutDTD:
    """pyexpat for xmltodict's `expat` parameter (the hook its documentation gives for a hardened
    parser), refusing any DOCTYPE as the parser meets it; xmltodict's own `disable_entities` refuses
    entity declarations. One parse checks and reads the body: defusedxml's rules (no DTD, no entity, no
    external reference) without parsing the XML a second time."""

    @staticmethod
    def ParserCreate(*args, **kwargs):
        parser = pyexpat.ParserCreate(*args, **kwargs)
        parser.StartDoctypeDeclHandler = _refuse_doctype
        return parser


def _parse_xml(body: bytes) -> dict:
    """The body's <xml> element as a dict, read once. A DOCTYPE, ENTITY or any DTD is refused by the
    parser itself (text that merely contains `<!` inside CDATA is a citizen's message)."""
    try:
        doc = xmltodict.parse(body, expat=_ExpatWithoutDTD, disable_entities=True)
    except _Declaration:  # an ENTITY is declared only inside a DOCTYPE, so this refuses both
        raise BadRequest("markup declarations are not allowed") from None
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
    check_timestamp(settings.timestamp_window, args)
    envelope = _parse_xml(body)
    encrypted = args.get("encrypt_type", "raw").lower() == "aes"
    if not encrypted and settings.safe_mode and not settings.compatible_mode:
        raise Forbidden("plaintext message in safe mode")
    if encrypted:
        if not settings.safe_mode:
            raise BadRequest("encrypted message but no WECHAT_ENCODING_AES_KEY is configured")
        encrypt = envelope.get("Encrypt")
        if not isinstance(encrypt, str) or not encrypt:
            raise BadRequest("no Encrypt element")
        expected = msg_signature(settings.token, args.get("timestamp", ""), args.get("nonce", ""), encrypt)
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
        parsed = _wechatpy_message(fields, raw)
    except Exception:
        raise BadRequest("unreadable message") from None
    return Inbound(to_message(parsed, fields), str(fields.get("ToUserName") or ""), encrypted)


def _wechatpy_message(fields: dict, raw: bytes) -> BaseMessage:
    """wechatpy's message object. A message (text, voice, image …) is built from the fields already
    parsed, with wechatpy's own table of types, instead of parsing the XML a second time; an event
    goes through wechatpy's parser, which rewrites some of them (subscribe by QR code)."""
    kind = fields["MsgType"].lower()
    if kind == "event" or kind.startswith("device_"):
        return parse_message(raw.decode("utf-8"))
    return MESSAGE_TYPES.get(kind, UnknownMessage)(dict(fields))


def _int(value: object) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0


# The subscribe-message (订阅通知) events wechatpy 1.8 does not know, and the element listing their choices.
CONSENT_EVENTS = {"subscribe_msg_popup_event": "SubscribeMsgPopupEvent",
                  "subscribe_msg_change_event": "SubscribeMsgChangeEvent",
                  "subscribe_msg_sent_event": "SubscribeMsgSentEvent"}
_MAX_CHOICES = 10  # WeChat's pop-up offers at most 3 templates; anything beyond 10 is not WeChat's
_TEMPLATE_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
USER_REFUSED = "43101"  # a subscribe message WeChat did not deliver: the user refuses it


def consent_choices(event: str, fields: dict) -> tuple[tuple[str, str], ...]:
    """(template id, accept | reject) from a subscribe-message event's <List> entries: the user's answer
    to the pop-up, a refusal in the settings, or a delivery WeChat reports refused (43101). A delivery
    that succeeded, and anything malformed, says nothing."""
    block = fields.get(CONSENT_EVENTS[event])
    entries = block.get("List") if isinstance(block, dict) else None
    if isinstance(entries, dict):
        entries = [entries]
    out = []
    for entry in (entries if isinstance(entries, list) else [])[:_MAX_CHOICES]:
        if not isinstance(entry, dict) or not _TEMPLATE_ID.match(str(entry.get("TemplateId") or "")):
            continue
        if event == "subscribe_msg_sent_event":
            choice = "reject" if str(entry.get("ErrorCode") or "") == USER_REFUSED else ""
        else:
            choice = str(entry.get("SubscribeStatusString") or "").lower()
        if choice in ("accept", "reject"):
            out.append((str(entry["TemplateId"]), choice))
    return tuple(out)


def to_message(parsed: BaseMessage, fields: dict) -> Message:
    """wechatpy's message object to our small frozen Message."""
    kind = getattr(parsed, "type", "unknown") or "unknown"
    if str(fields.get("MsgType") or "").lower() == "event":
        kind = "event"  # an event wechatpy does not know is still an event, never a message to answer
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
        choices=consent_choices(event, fields) if event in CONSENT_EVENTS else (),
    )


def msg_signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """Safe mode's `msg_signature` of an Encrypt element: `signature` over (token, timestamp, nonce,
    Encrypt), the same public wechatpy signer (not its private `_get_signature`)."""
    return signature(token, timestamp, nonce, encrypt)

"""The one reply renderer: Jinja2 templates to polite text, and WeChat's byte budget for text replies.

The reply texts live beside it in handlers/templates; the web side adds its own directory (console and
public pages, bot/templates) to the same renderer when it builds the app."""
from __future__ import annotations

import re
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).resolve().parent / "templates"
WECHAT_TEXT_LIMIT = 2048  # bytes of UTF-8 in one text message
_BLANKS = re.compile(r"\n{3,}")


def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader([TEMPLATES]),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=StrictUndefined,
        auto_reload=False,  # templates ship with the code: no stat() of the file at every reply
    )
    env.filters["cn_date"] = lambda d: f"{d.month}月{d.day}日"
    env.filters["hm"] = lambda t: f"{t.hour}:{t.minute:02d}"
    return env


class Renderer:
    """Renders reply templates (`*.txt`, handlers/templates) and pages (`*.html`, from the directories
    the web side adds)."""

    def __init__(self) -> None:
        self.env = _env()

    def add_templates(self, directory: Path) -> None:
        """Search `directory` too (after the reply templates), once."""
        path = str(directory)
        if path not in self.env.loader.searchpath:
            self.env.loader.searchpath.append(path)

    def __call__(self, name: str, /, **context) -> str:
        text = self.env.get_template(name).render(**context)
        if name.endswith(".txt"):
            text = _BLANKS.sub("\n\n", text).strip()
        return text


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def split_by_bytes(text: str, limit: int = WECHAT_TEXT_LIMIT) -> list[str]:
    """Split text into parts of at most `limit` UTF-8 bytes, at line breaks where possible.

    Nothing is dropped: joining the parts with newlines gives the text back.
    """
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if utf8_len(candidate) <= limit:
            current = candidate
            continue
        if current:
            parts.append(current)
        while utf8_len(line) > limit:  # a single overlong line: cut at a character boundary
            cut = len(line.encode("utf-8")[:limit].decode("utf-8", "ignore"))
            parts.append(line[:cut])
            line = line[cut:]
        current = line
    if current:
        parts.append(current)
    return parts

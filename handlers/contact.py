"""Reads the name and phone number a citizen gives: a mainland mobile or a landline, a Chinese name."""
from __future__ import annotations

import re

PHONE = re.compile(r"(?<!\d)(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})(?!\d)")
NAME = re.compile(r"^[\u4e00-\u9fa5·]{2,6}$")


def phone_in(text: str) -> str | None:
    m = PHONE.search(text)
    return m[1] if m else None

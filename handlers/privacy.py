"""Personal data kept out of sight: the masking of phone numbers in lists, ledgers and hand-offs."""
from __future__ import annotations

import re

_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")


def mask_phones(text: str) -> str:
    """Hide the middle four digits of mainland mobile numbers: 138****8000."""
    return _PHONE.sub(lambda m: f"{m[1]}****{m[3]}", text)


def mask_name(name: str) -> str:
    """Hide all but the surname: 王** (lists of bookings and records)."""
    return name[:1] + "*" * (len(name) - 1) if name else ""

"""Keep buyers' phone numbers, e-mail addresses and street addresses out of alert texts.

Alert texts go to group chats and mailboxes outside kefu, so whatever a caller puts in a title or
message is masked before it is stored: mobile numbers (also with spaces, dashes or dots between the
digits, and after +86), landlines with or without their area code, e-mail addresses, and the street part of a
Chinese address (…路/街/道/巷/弄 12号, 3栋 402室).
"""

import re

MASK = "***"

_PHONE = re.compile(
    r"(?<![0-9A-Za-z_\-./:])(?:(?:\+|00)?86[\s\-.]?)?"
    r"(?:1[3-9]\d(?:[\s\-.]?\d){8}|0\d{2,3}[\s\-.]?\d{7,8}|\d{7,8})"
    r"(?![0-9A-Za-z_]|[\-./:]\d)"
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_ADDRESS = re.compile(
    r"[\u4e00-\u9fff]{0,12}(?:省|市|区|县|镇|乡)[\u4e00-\u9fff0-9A-Za-z\-]{0,20}?"
    r"(?:路|街|道|巷|弄|村|小区|大厦|花园)[\u4e00-\u9fff0-9A-Za-z\-#]{0,20}(?:号|栋|幢|室|楼|单元)"
    r"|[\u4e00-\u9fff]{1,12}(?:路|街|巷|弄)\s*\d+\s*号(?:[\s\d\-]*(?:栋|幢|单元|室|楼))*"
)


def redact(text: str) -> str:
    """``text`` with phone numbers, e-mail addresses and street addresses replaced by ``***``."""
    if not text:
        return text
    text = _EMAIL.sub(MASK, text)
    text = _ADDRESS.sub(MASK, text)
    return _PHONE.sub(MASK, text)

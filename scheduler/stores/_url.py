"""Store URLs fit to print: the password replaced by ``***``.

Used wherever a URL reaches a log line or a message (``postgresql://app:***@db/x``).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["mask_url"]

_QUERY_PASSWORD = re.compile(r"(?i)(\bpassword=)[^&;#]*")


def mask_url(url: str) -> str:
    """``url`` with its password (user-info or a ``password=`` parameter) replaced by ``***``.

    Anything that does not parse as a URL is returned with only ``password=`` masked.
    """
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return _QUERY_PASSWORD.sub(r"\1***", url)
    if password is not None:
        userinfo, _, host = parts.netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        parts = parts._replace(netloc=f"{user}:***@{host}")
        url = urlunsplit(parts)
    return _QUERY_PASSWORD.sub(r"\1***", url)

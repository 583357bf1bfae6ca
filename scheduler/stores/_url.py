"""Store URLs with their secrets masked, for every message, repr and log line that shows one.

A store URL often carries a password (``postgresql://app:PW@db/app``,
``redis://:PW@cache:6379/0``, ``...?password=PW``); an error about a mistyped URL must not
print it to a terminal, a log aggregator or a CI transcript. :func:`mask_url` never raises,
whatever it is given: it works on the text, not through :func:`urllib.parse.urlparse`, which
gives up on exactly the malformed URLs that end up in error messages (a bad IPv6 host, a
bad port). When in doubt it masks too much rather than too little.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = ["mask_in", "mask_url"]

MASK = "***"

#: ``scheme://`` (the userinfo follows it)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
#: ``password=PW`` in a query string or a libpq conninfo (``sslpassword``, ``pwd``, ``token``
#: and ``secret`` too); a quoted conninfo value may hold spaces
_SECRET_PARAM = re.compile(
    r"(?i)((?:^|[?&;\s])[\w.\-]*(?:pass|pwd|secret|token)[\w.\-]*\s*=\s*)"
    r"('(?:[^'\\]|\\.)*'?|[^&;\s#]*)"
)


def _userinfo_end(text: str, start: int) -> int:
    """Index of the ``@`` that ends the userinfo, or -1."""
    rest = text[start:]
    cut = len(rest)
    for mark in "/?#":
        i = rest.find(mark)
        if i != -1:
            cut = min(cut, i)
    at = rest.rfind("@")
    if at >= cut and ":" in rest[:at]:
        # An '@' past the end of the authority: either in the query (harmless) or after an
        # unencoded '/', '?' or '#' inside the password. Which one cannot be told, so the
        # whole stretch is treated as userinfo: masking a host is better than leaking.
        return start + at
    at = rest.rfind("@", 0, cut)
    return -1 if at == -1 else start + at


def _password_span(text: str) -> tuple[int, int] | None:
    """Where the userinfo's password is in ``text`` (``user:PW@``), or None."""
    match = _SCHEME.match(text)
    start = match.end() if match else 0
    at = _userinfo_end(text, start)
    if at == -1:
        return None
    colon = text.find(":", start, at)
    if colon == -1:
        return None  # a user name alone is not a secret
    return colon + 1, at


def mask_url(url: object) -> str:
    """``url`` with its password replaced by ``***``: ``postgresql://app:***@db/x``.

    Masks the userinfo's password (``user:PW@`` and ``:PW@``) and the values of query or
    conninfo parameters named like a secret (``password=``, ``sslpassword=``, ``pwd=``,
    ``token=``, ``secret=``). Works on malformed URLs too (bad IPv6 hosts, bad ports, an
    unencoded ``@`` or ``/`` in the password). Never raises.
    """
    text = url if isinstance(url, str) else str(url)
    span = _password_span(text)
    if span is not None:
        text = text[: span[0]] + MASK + text[span[1] :]
    return _SECRET_PARAM.sub(lambda m: m.group(1) + MASK, text)


def _secrets(url: str) -> list[str]:
    """The secret substrings of ``url``, as written and percent-decoded, longest first."""
    found: list[str] = []
    span = _password_span(url)
    if span is not None:
        found.append(url[span[0] : span[1]])
    for match in _SECRET_PARAM.finditer(url):
        found.append(match.group(2).strip("'"))
    found += [unquote(s) for s in found]
    return sorted({s for s in found if s}, key=len, reverse=True)


def mask_in(text: object, url: object) -> str:
    """``text`` (a driver's error message, say) with ``url`` and its secrets masked.

    Drivers quote the URL they were given, whole or in parts; this replaces the URL itself,
    then every remaining occurrence of its password (raw or percent-decoded).
    """
    out = text if isinstance(text, str) else str(text)
    raw = url if isinstance(url, str) else str(url)
    if raw:
        out = out.replace(raw, mask_url(raw))
    for secret in _secrets(raw):
        out = out.replace(secret, MASK)
    return out

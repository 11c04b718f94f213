"""Passwords stay out of what sweepnp prints.

A storage URL is shown as :func:`mask_url` gives it, ``postgresql://user:***@host:5432/db``
(SQLAlchemy's ``URL.render_as_string(hide_password=True)`` writes the same), and the text of a
driver's error, which may quote the URL or its connection string, goes through :func:`scrub`.
Both work on the text alone, so they also mask a URL that SQLAlchemy cannot parse.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

__all__ = ["MASK", "error_text", "mask_url", "scrub"]

MASK = "***"

# scheme, any slashes (a URL missing one is still masked), user, ":", password, "@", the rest.
# The password runs to the last "@": an unencoded "@" in a password is masked too, not shown.
_USERINFO = re.compile(
    r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*:/*[^:/]*:)(?P<password>.+)(?P<tail>@[^@]*)$", re.S
)
# ``?password=…`` (libpq and the MySQL drivers read it from the query too)
_QUERY_PASSWORD = re.compile(r"(?P<key>[?&](?:ssl)?(?:password|passwd)=)(?P<password>[^&#]*)", re.I)


def mask_url(url: str) -> str:
    """``url`` with its password, if it has one, replaced by ``***``.

    >>> mask_url("postgresql://user:secret@host:5432/db")
    'postgresql://user:***@host:5432/db'
    >>> mask_url("sweepnp.journal")
    'sweepnp.journal'
    """
    masked = _USERINFO.sub(rf"\g<head>{MASK}\g<tail>", url)
    return _QUERY_PASSWORD.sub(lambda m: m["key"] + (MASK if m["password"] else ""), masked)


def _passwords(url: str) -> list[str]:
    found = [m["password"] for m in (_USERINFO.match(url),) if m]
    found += [m["password"] for m in _QUERY_PASSWORD.finditer(url)]
    return [p for p in found if p]


def scrub(text: str, url: str | None) -> str:
    """``text`` with every password of ``url`` replaced by ``***``: as written in the URL,
    percent-decoded (as a driver sees it) and percent-encoded.

    Every occurrence goes, even inside a word: a password of two letters makes a message hard
    to read, never one that shows it.
    """
    if not url:
        return text
    forms = set()
    for password in _passwords(url):
        forms.update({password, unquote(password), quote(unquote(password), safe="")})
    for form in sorted(forms - {""}, key=len, reverse=True):
        text = text.replace(form, MASK)
    return text


def error_text(error: BaseException, url: str | None) -> str:
    """A storage error as one line of text without the password of ``url``.

    For SQLAlchemy's wrapper of a driver error, the driver's own message (``orig``), without
    SQLAlchemy's "Background on this error" link.
    """
    original = getattr(error, "orig", None) or error
    text = ""
    for line in str(original).splitlines():
        if line.strip():
            text += ("" if not text else " " if text.endswith(":") else "; ") + line.strip()
    return scrub(text, url)

"""Passwords kept out of everything a person or a file sees: the console, logs, run.json,
reports and error messages.

`mask_url` shows a database URL with its password and its secret query parameters as `***`;
`mask_text` does the same to every URL inside a longer text (a driver's error message, a
traceback, a JSON document) and, given the URLs in play, to their secrets wherever the text
repeats them. URLs are read the way a person writes them, not the way SQLAlchemy parses them:
`user:p@ss@host` has the password `p@ss` (SQLAlchemy takes `p` and a host `ss@host`), so the
password is everything from the first `:` of the user part to the last `@` before the query.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote, unquote

from sqlalchemy.engine import URL

MASK = "***"
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
# Query parameters that may carry a credential: password, sslpassword, passwd, pwd, passfile,
# secret, client_secret, token, access_token, api_key, apikey, sslkey, auth, credentials.
_SECRET_KEY = re.compile(r"pass|pwd|secret|token|key|auth|credential", re.IGNORECASE)
# A URL in a longer text starts where a word starts (so a long word is scanned once, not once
# per letter) and ends at white space or at a character no URL has unencoded.
_URL_IN_TEXT = re.compile(r"(?<![A-Za-z0-9+.\-])" + _SCHEME.pattern + r"[^\s\"<>`]+")
# What closes a URL quoted in prose: left outside, so the message keeps its punctuation.
_TRAILING = "'.,;:)]}"
# libpq-style `password=...` outside a URL (a DSN in a driver's message).
_KEYWORD_SECRET = re.compile(r"(?<![?&\w])((?:password|passwd|pwd)\s*=\s*)('[^']*'|[^\s&,;)]+)",
                             re.IGNORECASE)
_QUERY_START = re.compile(r"[?#][^=@\s?#]*=")
_SHORTEST_SECRET = 3  # shorter known secrets are not searched for in free text (too many hits)


def mask_url(url: str | URL) -> str:
    """`url` with the password of its user part and every secret query parameter as `***`;
    text that is not a URL is returned as it is."""
    text = url.render_as_string(hide_password=False) if isinstance(url, URL) else str(url)
    scheme = _SCHEME.match(text)
    if scheme is None:
        return text
    head, rest = text[: scheme.end()], text[scheme.end():]
    span = _password_span(rest)
    if span is not None:
        rest = rest[: span[0]] + MASK + rest[span[1]:]
    query = rest.find("?", span[0] + len(MASK) if span else 0)
    if query < 0:
        return head + rest
    path, params = rest[: query + 1], rest[query + 1:]
    params, hash_, fragment = params.partition("#")
    masked = [f"{key}={MASK}" if secret else f"{key}={value}" if value is not None else key
              for key, value, secret in _parameters(params)]
    return head + path + "&".join(masked) + hash_ + fragment


def mask_text(text: str, *urls: str | URL) -> str:
    """`text` with every URL in it masked (`mask_url`), `password=...` pairs masked, and the
    password and secret parameters of `urls` masked wherever the text repeats them (a driver
    may quote them, percent-decoded or not)."""
    text = str(text)
    for url in urls:
        for secret in sorted(secrets_of(url), key=len, reverse=True):
            # A secret ending in `@` is the rest of a password in a host name: keep the `@`.
            text = text.replace(secret, MASK + "@" if secret.endswith("@") else MASK)
    text = _URL_IN_TEXT.sub(_mask_found, text)
    return _KEYWORD_SECRET.sub(lambda m: m.group(1) + MASK, text)


def secrets_of(url: str | URL) -> set[str]:
    """The password and secret query values of `url`, as written and percent-decoded."""
    text = url.render_as_string(hide_password=False) if isinstance(url, URL) else str(url)
    scheme = _SCHEME.match(text)
    if scheme is None:
        return set()
    rest = text[scheme.end():]
    found = []
    span = _password_span(rest)
    if span is not None:
        password = rest[span[0]: span[1]]
        found.append(password)
        if "@" in password:
            # SQLAlchemy splits at the first `@`: the rest of the password is in its host name.
            found.append(password.split("@", 1)[1] + "@")
    query = rest.find("?", span[1] if span else 0)
    if query >= 0:
        found.extend(value for _, value, secret in _parameters(rest[query + 1:].partition("#")[0])
                     if secret and value is not None)
    forms = {form for value in found for form in (value, unquote(value), quote(unquote(value), safe=""))}
    return {form for form in forms if len(form) >= _SHORTEST_SECRET and form != MASK}


class MaskingFilter(logging.Filter):
    """A logging filter that masks passwords in every record it passes (`mask_text`): its
    message, and the traceback and stack it may carry."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:  # formatters use this text once it is set
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


def _parameters(query: str) -> list[tuple[str, str | None, bool]]:
    """A query string's parameters: key, value (None: no `=`), whether it is a secret. A part
    without `=` after a secret is the rest of it (an `&` in a password, unencoded)."""
    found: list[tuple[str, str | None, bool]] = []
    for part in query.split("&"):
        key, sep, value = part.partition("=")
        if not sep and found and found[-1][2]:
            found[-1] = (found[-1][0], f"{found[-1][1]}&{part}", True)
        else:
            found.append((key, value if sep else None, bool(sep) and bool(_SECRET_KEY.search(unquote(key)))))
    return found


def _password_span(rest: str) -> tuple[int, int] | None:
    """Where the password is in a URL after its `scheme://`: from after the user's `:` to the
    last `@` before the query (passwords may hold `@`, `/`, `?`, `#` unencoded, so the query
    is the first `?` or `#` with a `key=` after it); None: no password."""
    user = re.match(r"[^:/?#\s]*:", rest)
    if user is None:
        return None
    first_at = rest.find("@", user.end())
    if first_at < 0:
        return None
    query = _QUERY_START.search(rest, first_at)
    last_at = rest.rfind("@", first_at, query.start() if query else len(rest))
    if last_at <= user.end():
        return None
    return user.end(), last_at


def _mask_found(match: re.Match[str]) -> str:
    found = match.group(0)
    end = len(found.rstrip(_TRAILING))
    return mask_url(found[:end]) + found[end:]


__all__ = ["MASK", "MaskingFilter", "mask_text", "mask_url", "secrets_of"]

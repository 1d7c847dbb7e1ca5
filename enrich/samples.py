"""What a rejected line may keep as its sample: what a pageview keeps, and no more.

A sample shows the operator why a line was rejected. It lives in ``rejects``,
so it must hold no more personal data than a pageview does: every IP address
is masked (also glued to letters, ports or brackets, in any IPv6 form, or
percent-encoded), the ident and user fields become ``-``, query strings keep
only their UTM parameters, e-mail addresses are masked, and a JSON log's user,
authorisation and cookie fields are emptied. Lines that are no log at all are
treated alike: what looks like any of these is removed, whatever its place.
"""

from __future__ import annotations

import re

#: Samples are cut to this many characters, after masking (so no cut leaves half an address).
MAX_SAMPLE = 500
#: Only this much of a line is looked at: every pattern below then costs little on a 64 KB line.
_LOOK_AT = 4 * MAX_SAMPLE
MASK_IP = "[ip]"
MASK_EMAIL = "[email]"

# Masking errs on the side of privacy: no word boundaries, so "x85.76.1.10y" and
# "ip=85.76.1.10:443" lose their addresses too (a version number may go with them).
_V4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}|\d{1,3}(?:%2[Ee]\d{1,3}){3}")
# A run of hex digits and colons with "::" or at least five colons is an IPv6 address
# (times such as 10:00:00 have two); an embedded IPv4 tail goes with it. Runs are only
# tried from their start, so a long run costs one pass.
_V6_RUN = re.compile(r"(?<![0-9A-Fa-f:])[0-9A-Fa-f]*(?::[0-9A-Fa-f]*){2,}(?:\.\d{1,3}){0,3}")
# A line cut short may end inside an address ("85.76.1", "2001:db8:85a3::8a2e:37").
_CUT = re.compile(r"(?:\d{1,3}(?:\.\d{0,3}){1,3}|[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{0,4}){1,7})$")
_EMAIL_PART = r"[^\s\"'<>()\[\]{},;:=/?&@]"
_EMAIL = re.compile(rf"(?<!{_EMAIL_PART}){_EMAIL_PART}+(?:@|%40){_EMAIL_PART}+")
# A query string after "?", up to a space, a quote or a fragment.
_QUERY = re.compile(r"\?([^\s\"#]*)")
_UTM = re.compile(r"(?i)utm_[a-z]+=")
# JSON fields that name or authenticate a person: their values are emptied.
_PERSONAL_JSON = re.compile(
    r'("[^"]{0,40}(?:user|ident|login|auth|cookie|token|session|pass|mail|phone)[^"]{0,40}"\s*:\s*)'
    r'(\[[^\]]*\]|"(?:[^"\\]|\\.)*"|[^,}\]\s]+)', re.IGNORECASE)
# The timestamp bracket of a common/combined line: what stands before it is the client,
# then the ident and user fields.
_TIME_BRACKET = re.compile(r"\s\[(?=\d)")
# Tokens that may stand before the ident field: (masked) addresses, lists of them, "-",
# "unknown" hops, and a virtual host with its port ("%v:%p").
_CLIENT_TOKEN = re.compile(r'"?(?:(?:\[ip\]|\[\[ip\]\]|-|unknown)(?::\d{1,5})?,?)+"?|[A-Za-z0-9.-]+:\d{1,5}')


def sanitise_sample(text: str, cut_short: bool = False) -> str:
    """``text`` as a reject may keep it: addresses, users, query strings and e-mails removed.

    Args:
        text: the rejected line.
        cut_short: the line was cut where reading stopped (a damaged file): the ident
            and user may follow the client without any timestamp after them.
    """
    text = _mask_addresses(text[:_LOOK_AT])
    text = _PERSONAL_JSON.sub(r'\1"-"', text)
    text = _QUERY.sub(_keep_utm, text)
    # A query string of its own (IIS's cs-uri-query, "a=1&b=2") keeps its UTM tags only.
    text = " ".join((_utm_only(t) or "-") if _is_bare_query(t) else t for t in text.split(" "))
    text = _EMAIL.sub(MASK_EMAIL, text)
    text = _drop_ident_and_user(text, cut_short)
    return text[:MAX_SAMPLE]


def _mask_addresses(text: str) -> str:
    def v6(match: re.Match[str]) -> str:
        token = match.group(0)
        return MASK_IP if "::" in token or token.count(":") >= 5 else token

    # Any line may end cut short (a log read while it is written), so its end is masked too.
    return _CUT.sub(MASK_IP, _V4.sub(MASK_IP, _V6_RUN.sub(v6, text)))


def _is_bare_query(token: str) -> bool:
    return "=" in token and "://" not in token and not token.startswith(('"', "[", "{", "/"))


def _utm_only(query: str) -> str:
    return "&".join(p for p in query.split("&") if _UTM.match(p))


def _keep_utm(match: re.Match[str]) -> str:
    kept = _utm_only(match.group(1))
    return f"?{kept}" if kept else ""


def _drop_ident_and_user(text: str, cut_short: bool) -> str:
    """The two fields before the timestamp become ``-``, and so does every other token there
    that is no client address or virtual host (a user name with spaces shifts the fields)."""
    bracket = _TIME_BRACKET.search(text)
    if bracket:
        head, tail = text[: bracket.start()], text[bracket.start():]
    elif cut_short:
        head, tail = text, ""  # "85.76.1.10 - matti" and the damage: all of it is the head
    else:
        return text
    tokens = head.split(" ")
    if bracket:
        kept = [t if not t or _CLIENT_TOKEN.fullmatch(t) else "-" for t in tokens[:-2]]
        kept += ["-" if t else t for t in tokens[-2:]]
    else:
        kept = [t if not t or _CLIENT_TOKEN.fullmatch(t) else "-" for t in tokens]
    return " ".join(kept) + tail

"""Traffic channels: a visit's referrer and UTM tags as one word sales understand.

:func:`channel` is pure and table-driven. It maps the raw values a visit keeps (its landing
referrer, ``utm_source`` and ``utm_medium``; they are never rewritten) to one of
:data:`CHANNELS`. The rules, first match wins:

1. ``utm_medium`` says money or mail (:data:`MEDIUMS`): ``cpc``, ``ppc``, ``display``… → **paid**
   (a LinkedIn or Google ad is paid before it is LinkedIn or search); ``email``, ``newsletter``,
   ``uutiskirje``… → **e-mail**.
2. ``utm_source``, then the referrer's host, against :data:`SOURCES`: ``linkedin``,
   ``linkedin.com``, ``lnkd.in`` → **LinkedIn**; ``google.*`` (``google.fi``, ``google.co.uk``),
   ``bing.com``, ``duckduckgo.com``… → **search**; ``t.co``, ``twitter``, ``facebook``… → **social**;
   ``newsletter``, ``mail.google.com``… → **e-mail**.
3. The remaining mediums: ``social`` → **social**, ``organic`` → **search**, ``referral`` → **referral**.
4. Any other source or referrer → **referral**; nothing at all → **direct**.

A pattern in :data:`SOURCES` is either a domain (``lnkd.in``: the domain itself and its
subdomains) or a brand ending in ``.*`` (``google.*``: the bare word, as in
``utm_source=google``, or the word under any country domain — ``google.fi``, ``www.google.co.uk``,
``google.com.au``).
"""

from __future__ import annotations

import re

SEARCH, LINKEDIN, SOCIAL, EMAIL, PAID, REFERRAL, DIRECT = (
    "search", "LinkedIn", "social", "e-mail", "paid", "referral", "direct")
#: Every label :func:`channel` returns, in the order the report lists them when counts tie.
CHANNELS = (SEARCH, LINKEDIN, SOCIAL, EMAIL, PAID, REFERRAL, DIRECT)

#: utm_medium (lower case; ``_`` and spaces read as ``-``) → channel.
MEDIUMS: dict[str, str] = {
    **dict.fromkeys(("cpc", "ppc", "cpm", "cpv", "paid", "paid-search", "paidsearch", "paid-social", "paidsocial",
                     "display", "banner", "retargeting", "remarketing", "ads", "ad", "sponsored"), PAID),
    **dict.fromkeys(("email", "e-mail", "mail", "newsletter", "uutiskirje", "sahkoposti", "sähköposti"), EMAIL),
    **dict.fromkeys(("social", "social-media", "socialmedia", "some", "organic-social"), SOCIAL),
    "organic": SEARCH,
    "referral": REFERRAL,
}
#: Mediums decided before the source (rule 1); the others only when the source says nothing (rule 3).
FIRST_MEDIUMS = (PAID, EMAIL)

#: (pattern, channel): utm_source or referrer host → channel; earlier rows win.
SOURCES: tuple[tuple[str, str], ...] = (
    # webmail before its search engine: mail.google.com is e-mail, not search
    ("mail.google.com", EMAIL), ("com.google.android.gm", EMAIL), ("mail.yahoo.com", EMAIL),
    ("outlook.live.com", EMAIL), ("outlook.office.com", EMAIL), ("outlook.office365.com", EMAIL),
    ("newsletter.*", EMAIL), ("email.*", EMAIL), ("e-mail.*", EMAIL), ("uutiskirje.*", EMAIL),
    ("mailchimp.*", EMAIL), ("list-manage.com", EMAIL),
    ("linkedin.*", LINKEDIN), ("lnkd.in", LINKEDIN), ("com.linkedin.android", LINKEDIN),
    ("google.*", SEARCH), ("com.google.android.googlequicksearchbox", SEARCH), ("bing.*", SEARCH),
    ("duckduckgo.*", SEARCH), ("yahoo.*", SEARCH), ("ecosia.*", SEARCH), ("yandex.*", SEARCH),
    ("baidu.*", SEARCH), ("startpage.*", SEARCH), ("qwant.*", SEARCH), ("search.brave.com", SEARCH),
    ("facebook.*", SOCIAL), ("fb.*", SOCIAL), ("fb.me", SOCIAL), ("instagram.*", SOCIAL),
    ("twitter.*", SOCIAL), ("t.co", SOCIAL), ("x.com", SOCIAL), ("youtube.*", SOCIAL), ("youtu.be", SOCIAL),
    ("reddit.*", SOCIAL), ("tiktok.*", SOCIAL), ("threads.net", SOCIAL), ("bsky.app", SOCIAL),
    ("xing.*", SOCIAL), ("pinterest.*", SOCIAL),
)

# a country or generic ending under a brand: .fi, .com, .co.uk, .com.au (one or two short labels)
_COUNTRY_ENDING = r"(?:\.[a-z]{2,3}){0,2}"


def _compile(pattern: str) -> re.Pattern[str]:
    if pattern.endswith(".*"):
        return re.compile(rf"(?:.+\.)?{re.escape(pattern[:-2])}{_COUNTRY_ENDING}")
    return re.compile(rf"(?:.+\.)?{re.escape(pattern)}")


_SOURCES = tuple((_compile(pattern), label) for pattern, label in SOURCES)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")


def referrer_host(referrer: str | None) -> str:
    """The host of a referrer (a URL, or a bare ``host/path``): lower case, without ``www.``,
    port or user; ``''`` when there is none (``-``, empty)."""
    text = (referrer or "").strip().lower()
    text = _SCHEME.sub("", text)
    host = re.split(r"[/?#]", text, maxsplit=1)[0].rsplit("@", 1)[-1]
    host = host.split(":", 1)[0].strip(".")  # a port; IPv6 literals are no channel's host anyway
    return host[4:] if host.startswith("www.") else host


def source_channel(source: str | None) -> str | None:
    """The channel a utm_source or host names (:data:`SOURCES`), or None when no row matches."""
    name = referrer_host(source)
    for pattern, label in _SOURCES:
        if pattern.fullmatch(name):
            return label
    return None


def _medium(utm_medium: str | None) -> str | None:
    return MEDIUMS.get(re.sub(r"[_\s]+", "-", (utm_medium or "").strip().lower()))


def channel(referrer: str | None = None, utm_source: str | None = None, utm_medium: str | None = None) -> str:
    """The channel of one visit from its raw referrer (URL or host) and UTM tags; see the module."""
    medium = _medium(utm_medium)
    if medium in FIRST_MEDIUMS:
        return medium
    for value in (utm_source, referrer):
        if (label := source_channel(value)) is not None:
            return label
    if medium is not None:
        return medium
    if (utm_source or "").strip() or referrer_host(referrer) not in ("", "-"):
        return REFERRAL
    return DIRECT


def tally(rows: list[tuple[str | None, str | None, str | None, int]], top: int = 3) -> list[tuple[str, int, list[str]]]:
    """Visits per channel from ``(referrer, utm_source, utm_medium, visits)`` groups: ``(channel, visits,
    raw)``, most visits first, where ``raw`` is the channel's :data:`top` raw values as ``"value (n)"``
    (utm_source, else the referrer's host) — the channel never hides what it was made of."""
    visits: dict[str, int] = {}
    raw: dict[str, dict[str, int]] = {}
    for referrer, utm_source, utm_medium, n in rows:
        label = channel(referrer, utm_source, utm_medium)
        visits[label] = visits.get(label, 0) + n
        value = (utm_source or "").strip() or referrer_host(referrer)
        if value and value != "-":
            raw.setdefault(label, {})[value] = raw.get(label, {}).get(value, 0) + n
    order = sorted(visits, key=lambda label: (-visits[label], CHANNELS.index(label)))
    return [(label, visits[label],
             [f"{value} ({n})" for value, n in sorted(raw.get(label, {}).items(), key=lambda kv: (-kv[1], kv[0]))[:top]])
            for label in order]

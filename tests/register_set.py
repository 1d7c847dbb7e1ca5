"""A made-up register with the hard cases, and a labelled set of names to match against it.

Each labelled name says which Business ID it refers to (or None: the
register holds no such company, or the name is ambiguous). Built for the
matching-quality test; the companies do not exist.
"""

from __future__ import annotations

from stdnum.fi import ytunnus

from tests.ytj_fixtures import company


def bid(seed: int) -> str:
    """A valid made-up Business ID."""
    while True:
        base = str(seed).zfill(7)
        for digit in "0123456789":
            if ytunnus.is_valid(f"{base}-{digit}"):
                return f"{base}-{digit}"
        seed += 1


KALLIO, KALLIO_RE, METSA, POHJOLA, POHJOLA_OLD, TURKU, TELE, SAIMAA, NORDIC_OY, NORDIC_AB, VANHA, LUMI = (
    bid(3141592), bid(3141600), bid(2718281), bid(1618033), bid(1618100), bid(1732050), bid(2236067),
    bid(1414213), bid(2645751), bid(2645800), bid(3316624), bid(2828427),
)

REGISTER = [
    company(KALLIO, "Kalliodata Oy", parallel=("Kalliodata Ltd",), website="www.kalliodata.fi", city="TAMPERE"),
    company(KALLIO_RE, "Kiinteistö Oy Kalliodatan Talo", industry=("68200", "Renting and operating of own or leased real estate"),
            city="TAMPERE"),
    company(METSA, "Metsä Logistics Ab", parallel=("Skogslogistik Ab", "Metsa Logistics Ltd"), form="Ab", city="KOTKA",
            industry=("52100", "Warehousing and storage")),
    company(POHJOLA, "Pohjolan Konepaja Oy", auxiliary=("Konepaja Pohjola",), city="OULU",
            industry=("28990", "Manufacture of other special-purpose machinery n.e.c.")),
    company(POHJOLA_OLD, "Pohjolan Konepaja Oy", end_date="2009-12-31", city="KEMI",
            industry=("28990", "Manufacture of other special-purpose machinery n.e.c."), code_set="TOIMI3"),
    company(TURKU, "Turun Teräs Oyj", form="Oyj", city="TURKU", website="turunteras.fi",
            industry=("24100", "Manufacture of basic iron and steel")),
    company(TELE, "Esimerkki Tele Oyj", form="Oyj", parallel=("Example Telecom Plc",),
            industry=("61100", "Wired telecommunications activities")),
    company(SAIMAA, "Saimaa Analytics Oy", former=("Lappeenrannan Datapalvelu Oy",), city="LAPPEENRANTA",
            situations=("Yrityssaneeraus",)),
    company(NORDIC_OY, "Nordic Data Oy", city="ESPOO"),
    company(NORDIC_AB, "Nordic Data Ab", form="Ab", city="VAASA"),
    company(VANHA, "Uusi Nimi Oy", former=("Vanha Toiminimi Oy",), city="JYVÄSKYLÄ"),
    company(LUMI, "Lumilinna Tmi", form="Tmi", city="KEMI", situations=("Konkurssi",)),
] + [
    # filler: many companies sharing words with the hard cases
    company(bid(4000000 + i * 37), f"{word} {suffix} Oy", city="HELSINKI")
    for i, (word, suffix) in enumerate(
        (w, s) for w in ("Kallio", "Data", "Logistics", "Konepaja", "Teräs", "Analytics", "Nordic", "Metsä")
        for s in ("Palvelut", "Group", "Solutions", "Invest", "Holding")
    )
]

#: (name as a source shows it, city or None, website or None, the Business ID it means or None)
LABELLED = [
    ("Kalliodata Oy", None, None, KALLIO), ("Kalliodata", None, None, KALLIO), ("Kalliodata Ltd", None, None, KALLIO),
    ("KALLIODATA-NET", None, None, KALLIO), ("kalliodata oy", None, None, KALLIO),
    ("Kalliodata Oy", "Tampere", None, KALLIO), ("Kalliodata Corporation", None, None, KALLIO),
    ("KalliData", None, "https://www.kalliodata.fi/", KALLIO),
    ("Kiinteistö Oy Kalliodatan Talo", None, None, KALLIO_RE), ("Kalliodatan Talo", None, None, KALLIO_RE),
    ("Metsä Logistics Ab", None, None, METSA), ("Metsa Logistics", None, None, METSA),
    ("METSA-LOGISTICS-NET", None, None, METSA), ("Skogslogistik Ab", None, None, METSA),
    ("Metsä Logistics Oy Ab", None, None, METSA), ("Metsa Logistics Ltd", None, None, METSA),
    ("Pohjolan Konepaja Oy", None, None, POHJOLA), ("Pohjolan Konepaja", None, None, POHJOLA),
    ("POHJOLAN-KONEPAJA", None, None, POHJOLA), ("Konepaja Pohjola", None, None, POHJOLA),
    ("Pohjolan Konepaja Oy", "Oulu", None, POHJOLA),
    ("Turun Teräs Oyj", None, None, TURKU), ("Turun Teras", None, None, TURKU), ("Turun-Teräs", None, None, TURKU),
    ("TURUNTERAS", None, "turunteras.fi", TURKU), ("Turun Teräs Plc", None, None, TURKU),
    ("Esimerkki Tele Oyj", None, None, TELE), ("Example Telecom Plc", None, None, TELE),
    ("Esimerkki Tele", None, None, TELE),
    ("Saimaa Analytics Oy", None, None, SAIMAA), ("Saimaa Analytics", None, None, SAIMAA),
    ("Lappeenrannan Datapalvelu Oy", None, None, SAIMAA),
    ("Uusi Nimi Oy", None, None, VANHA), ("Vanha Toiminimi Oy", None, None, VANHA), ("Vanha Toiminimi", None, None, VANHA),
    ("Nordic Data Oy", "Espoo", None, NORDIC_OY), ("Nordic Data Ab", "Vaasa", None, NORDIC_AB),
    ("Lumilinna Tmi", None, None, LUMI),
    # nothing to match, or ambiguous: no Business ID is better than a wrong one
    ("Nordic Data", None, None, None), ("Kallio", None, None, None), ("Data", None, None, None),
    ("Kalliodata Kiinteistöt Helsinki", None, None, None), ("Metsähallitus", None, None, None),
    ("Pohjolan Voima Oy", None, None, None), ("Turun Satama Oy", None, None, None),
    ("Example Corp", None, None, None), ("Google LLC", None, None, None), ("Telia Finland Oyj", None, None, None),
    ("Saimaan Kala Oy", None, None, None), ("Konepaja Etelä", None, None, None),
] + [
    (f"{word} {suffix} Oy", None, None, bid(4000000 + i * 37))
    for i, (word, suffix) in enumerate(
        (w, s) for w in ("Kallio", "Data", "Logistics", "Konepaja", "Teräs", "Analytics", "Nordic", "Metsä")
        for s in ("Palvelut", "Group", "Solutions", "Invest", "Holding")
    )
]

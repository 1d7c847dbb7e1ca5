"""Finland's regions (maakunnat) and the places in them, for feeds' ``regions``. Pure, read once.

The places come from ``data/regions/fi-places.csv`` (GeoNames' Finnish places of 500+ inhabitants,
written by ``data/regions/generate.py``); a region is named in Finnish, Swedish or English. A place
name two regions share (there are a few villages) belongs to both.
"""

from __future__ import annotations

import csv
import io
from functools import cache
from pathlib import Path

PLACES_FILE = Path(__file__).resolve().parents[1] / "data" / "regions" / "fi-places.csv"
#: Each region's Finnish name (as the places file names it) and its Swedish and English names.
REGIONS = {
    "Uusimaa": ("Nyland",), "Varsinais-Suomi": ("Egentliga Finland", "Southwest Finland", "Finland Proper"),
    "Satakunta": ("Satakunda",), "Kanta-Häme": ("Egentliga Tavastland", "Tavastia Proper"),
    "Pirkanmaa": ("Birkaland",), "Päijät-Häme": ("Päijänne-Tavastland",), "Kymenlaakso": ("Kymmenedalen",),
    "Etelä-Karjala": ("Södra Karelen", "South Karelia"), "Etelä-Savo": ("Södra Savolax", "South Savo"),
    "Pohjois-Savo": ("Norra Savolax", "North Savo"), "Pohjois-Karjala": ("Norra Karelen", "North Karelia"),
    "Keski-Suomi": ("Mellersta Finland", "Central Finland"),
    "Etelä-Pohjanmaa": ("Södra Österbotten", "South Ostrobothnia"), "Pohjanmaa": ("Österbotten", "Ostrobothnia"),
    "Keski-Pohjanmaa": ("Mellersta Österbotten", "Central Ostrobothnia"),
    "Pohjois-Pohjanmaa": ("Norra Österbotten", "North Ostrobothnia"), "Kainuu": ("Kajanaland",),
    "Lappi": ("Lappland", "Lapland"), "Ahvenanmaa": ("Åland",),
}
_NAMES = {alias.casefold(): region for region, aliases in REGIONS.items() for alias in (region, *aliases)}


def region(name: str) -> str | None:
    """A region's Finnish name from any of its names ("Birkaland", "pirkanmaa"), or None."""
    return _NAMES.get(" ".join(name.split()).casefold())


@cache
def _places(path: Path = PLACES_FILE) -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    for row in csv.DictReader(io.StringIO("\n".join(line for line in text.splitlines() if not line.startswith("#")))):
        found.setdefault(row["place"].casefold(), set()).add(row["region"])
    return {place: frozenset(regions) for place, regions in found.items()}


def regions_of(city: str | None) -> frozenset[str]:
    """The regions a city or town lies in (its name as the register or an export writes it), or none."""
    return _places().get(" ".join((city or "").split()).casefold(), frozenset())

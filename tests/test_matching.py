"""Name matching against the register: normalisation, hard cases, and measured quality.

The quality test prints precision and recall on the labelled set in
tests/register_set.py and asserts the bar of issue 4: precision ≥ 0.99, recall ≥ 0.97.
"""

import pytest

from enrich.matching import best_match, normalise, search_queries
from enrich.ytj import parse_company
from tests.register_set import KALLIO, LABELLED, POHJOLA, REGISTER

COMPANIES = [parse_company(entry) for entry in REGISTER]


@pytest.mark.parametrize(
    ("name", "normalised"),
    [
        ("Metsä-Logistics Oy Ab", "metsa logistics"), ("KALLIODATA-NET", "kalliodata"), ("Nokia Oyj", "nokia"),
        ("Oy Nokia Ab", "nokia"), ("Åbo Kraft Abp", "abo kraft"), ("Turun Teräs Corporation", "turun teras"),
        ("Tmi Matti Meikäläinen", "matti meikalainen"), ("ACME, Inc.", "acme"),
    ],
)
def test_normalise(name, normalised):
    assert normalise(name) == normalised


def test_queries_survive_legal_forms_hyphens_and_lost_dots():
    assert search_queries("KALLIODATA-NET") == ["KALLIODATA"]
    assert search_queries("Metsa") == ["Metsa", "Mets"]  # 'Mets' is a substring of 'Metsä'
    assert search_queries("Pohjolan Konepaja Oy")[0] == "Pohjolan Konepaja"


def _match(name, city=None, website=None):
    candidates = [c for c in COMPANIES]  # the whole register: the hardest case for the matcher
    return best_match(name, candidates, city, website)


def test_active_company_beats_its_dissolved_namesake():
    assert _match("Pohjolan Konepaja Oy").company.business_id == POHJOLA


def test_real_estate_company_with_a_similar_name_is_not_taken():
    assert _match("Kalliodata").company.business_id == KALLIO


def test_matching_quality_on_the_labelled_set():
    tp = fp = fn = 0
    wrong = []
    for name, city, website, expected in LABELLED:
        match = _match(name, city, website)
        got = match.company.business_id if match else None
        if got is not None and got == expected:
            tp += 1
        elif got is not None:
            fp += 1
            wrong.append((name, expected, got))
        if expected is not None and got != expected:
            fn += 1
            if got is None:
                wrong.append((name, expected, None))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    print(f"\nlabelled names: {len(LABELLED)}, precision {precision:.3f}, recall {recall:.3f}, misses: {wrong}")
    assert precision >= 0.99 and recall >= 0.97, wrong

"""Hostile exports, forms and register answers (issue 12, items 4, 10, 11, 12): no failed night.

Each test replays one attack that was reproduced against the pipeline: a reason
that quoted a value, an export column that smuggled contact details into
``company_sources``, a JSON document nested 100,000 levels deep, a number of
1e30, a CSV field larger than the csv module allows, an XLSX file whose
``<dimension>`` lies, an export or form dated 9999, a register that pages for
ever. The last tests run a whole night of such inputs (web logs included: see
``tests/test_hostile_logs.py`` for those).
"""

from __future__ import annotations

import json
import re
import zipfile
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import duckdb
import pytest
from openpyxl import Workbook
from werkzeug.wrappers import Response

from enrich.errors import InputError, PermanentError
from enrich.forms import parse_forms
from enrich.http import PoliteClient
from enrich.leadfeeder import parse_table, read_csv_export, read_xlsx_export
from enrich.leadfeeder_api import parse_api_json
from enrich.ytj import YtjClient, parse_search
from sinks import runs
from sinks.sources import upsert_source_rows
from tests.conftest import combined, write_log
from tests.register_set import bid
from tests.ytj_fixtures import company

HELSINKI = ZoneInfo("Europe/Helsinki")
NOW = datetime(2026, 11, 26, 3, 0, tzinfo=timezone.utc)


def _csv(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


# --- item 4: reasons never quote values; only known, non-personal export columns ------------------


def test_forms_reject_reasons_never_quote_values():
    lines = [
        {"time": "matti@firma.fi", "email": "matti@firma.fi", "name": "Matti"},  # the e-mail in the time column
        {"time": "2026-11-20T10:00:00", "form": "chat", "message": "soita 040 123 4567"},  # nobody
        ["matti@firma.fi"],
    ]
    data = ("\n".join(json.dumps(x) for x in lines) + '\n{"email": "matti@firma.fi", truncated').encode()
    submissions, rejects = parse_forms(data, HELSINKI, now=NOW)
    assert submissions == [] and len(rejects) == 4
    assert all(re.fullmatch(r"[A-Za-z ,:()]+", reason) for _, reason in rejects), rejects
    csv_data = _csv("Time;Email;Name", "ei päivä 31.31.;maija@firma.fi;Maija")
    _, (only,) = parse_forms(csv_data, HELSINKI, now=NOW)
    assert "maija" not in only[1] and "31.31" not in only[1]


def test_export_errors_and_reasons_never_quote_values(tmp_path):
    headless = _csv("Matti Meikäläinen;matti@firma.fi;040 123 4567")  # a contact list given as an export
    with pytest.raises(InputError) as caught:
        parse_table(*read_csv_export(headless))
    assert "matti" not in str(caught.value) and "040" not in str(caught.value)
    broken = tmp_path / "export.xlsx"
    broken.write_bytes(b"PK\x03\x04" + b"matti@firma.fi" * 10)
    with pytest.raises(InputError) as caught:
        read_xlsx_export(broken)
    assert "matti" not in str(caught.value)
    header, rows = read_csv_export(_csv("Company;Visits;Last visit", "Kalliodata Oy;matti@firma.fi;matti@firma.fi"))
    (row,), rejects = parse_table(header, rows, HELSINKI, now=NOW)
    assert row.visits is None and row.last_visit is None
    assert all("matti" not in reason for _, reason in rejects) and len(rejects) == 2
    assert "matti" not in json.dumps(row.extra)


def test_unknown_export_columns_are_not_kept(con):
    header, rows = read_csv_export(_csv(
        "Company name;Website;Contact email;Contact phone;Contact name;Omistaja;Visits",
        "Kalliodata Oy;kalliodata.fi;maija@kalliodata.fi;+358 40 123 4567;Maija Meikäläinen;Sanna Myyjä;3",
    ))
    (row,), rejects = parse_table(header, rows, HELSINKI, now=NOW)
    assert rejects == [] and row.visits == 3
    run_id = runs.start_run(con, "test")
    upsert_source_rows(con, "leadfeeder", [row], "export.csv", run_id, NOW)
    stored = con.execute("SELECT CAST(extra AS VARCHAR), name, website FROM company_sources").fetchall()[0]
    text = " ".join(str(v) for v in stored)
    for personal in ("maija", "Maija", "4567", "Sanna", "Contact"):
        assert personal not in text, text


def test_api_pages_and_referrers_lose_their_query_strings():
    payload = {"data": [{"id": "1", "type": "leads", "attributes": {"name": "Kalliodata Oy"}}],
               "included": [{"type": "visits", "relationships": {"lead": {"data": {"id": "1"}}},
                             "attributes": {"referring_url": "https://mail.example/read?to=matti@firma.fi",
                                            "visit_route": [{"page_path": "/tilaa?email=matti@firma.fi&utm_source=x"}]}}]}
    (row,), _ = parse_api_json(payload)
    assert "matti" not in json.dumps(row.extra)
    assert row.extra == {"top_pages": ["/tilaa"], "referring_urls": ["https://mail.example/read"]}


# --- item 10: one bad input is a reject, never a failed night ---------------------------------------


def test_deeply_nested_json_is_one_reject(tmp_path):
    from enrich.leadfeeder import read_export

    deep = tmp_path / "leads.json"
    deep.write_bytes(b'{"data": ' + b"[" * 200_000 + b"]" * 200_000 + b"}")
    with pytest.raises(InputError, match="nested too deeply"):
        read_export(deep, HELSINKI, now=NOW)
    forms = b'{"name": "A", "email": "a@firma.fi"}\n' + b"[" * 200_000 + b"\n" + b'{"name": "B", "phone": "1"}\n'
    submissions, rejects = parse_forms(forms, HELSINKI, now=NOW)
    assert [s.name for s in submissions] == ["A", "B"] and [n for n, _ in rejects] == [2]


def test_wrongly_typed_api_json_is_read_or_rejected_lead_by_lead(con):
    payload = {
        "data": [
            {"id": "1", "attributes": {"name": "Kalliodata Oy", "visits": 1e30, "quality": "abc", "website_url": 5,
                                       "country_code": 7, "business_id": 3141593, "first_visit_date": {"a": 1},
                                       "employee_count": [1], "industry": {"x": 1}, "city": ["Tampere"]}},
            {"id": "2", "attributes": {"name": ["not", "a", "name"]}},
            {"id": "3", "attributes": []},
            5, "text", None,
            {"id": "4", "attributes": {"name": "Metsä Oy", "visits": "7", "quality": float("inf")}},
        ],
        "included": [1, "x", {"type": "visits", "attributes": {"visit_route": "x", "lead_id": 4}},
                     {"type": "visits", "relationships": [], "attributes": {"visit_route": [1, {"page_path": 5}]}}],
    }
    rows, rejects = parse_api_json(payload, now=NOW)
    assert [r.name for r in rows] == ["Kalliodata Oy", "Metsä Oy"]
    first, second = rows
    assert first.visits is None and first.quality is None and first.website is None and first.country is None
    assert second.visits == 7 and second.quality is None
    assert len(rejects) >= 5  # the four non-leads and every unreadable field, each with its reason
    run_id = runs.start_run(con, "test")
    upsert_source_rows(con, "leadfeeder", rows, "leads.json", run_id, NOW)  # no conversion error
    assert con.execute("SELECT count(*) FROM company_sources").fetchall() == [(2,)]
    rows, rejects = parse_api_json({"data": {"a": 1}, "included": "y"}, now=NOW)  # one lead, not a list
    assert rows == [] and rejects == [(1, "lead without a name")]
    for payload in ({"data": "x"}, 5, "x"):
        with pytest.raises(InputError, match="not a Leadfeeder API document"):
            parse_api_json(payload, now=NOW)


@pytest.mark.parametrize("visits", ["1e30", "-5", "99999999999", "nan", "inf", "12abc"])
def test_numbers_out_of_range_are_rejected_fields(con, visits):
    header, rows = read_csv_export(_csv("Company;Visits;Page views;Quality", f"Kalliodata Oy;{visits};{visits};{visits}"))
    (row,), rejects = parse_table(header, rows, now=NOW)
    assert (row.visits, row.pageviews) == (None, None) and row.quality in (None, -5.0)
    assert {reason for _, reason in rejects} <= {"unreadable visits", "unreadable pageviews", "unreadable quality"}
    upsert_source_rows(con, "leadfeeder", [row], "x.csv", runs.start_run(con, "test"), NOW)


def test_a_csv_field_over_the_size_limit_is_one_rejected_row():
    big = "x" * 300_000
    header, rows = read_csv_export(_csv("Company;Visits", "Kalliodata Oy;1", f"Big Oy;{big}", "Metsä Oy;3",
                                        f'Quoted Oy;"{big}', "Last Oy;4"))
    parsed, rejects = parse_table(header, rows, now=NOW)
    assert [r.name for r in parsed][:2] == ["Kalliodata Oy", "Metsä Oy"]
    assert (3, "a field over the size limit") in rejects
    forms = _csv("Name;Email;Message", "Maija;maija@firma.fi;hei", f"Big;big@firma.fi;{big}", "Teppo;teppo@firma.fi;moi")
    submissions, rejects = parse_forms(forms, HELSINKI, now=NOW)
    assert [s.name for s in submissions] == ["Maija", "Teppo"] and rejects == [(3, "a field over the size limit")]
    with pytest.raises(InputError, match="size limit"):
        read_csv_export(_csv(f"Company;{big}", "Kalliodata Oy;1"))


def _xlsx(path, rows: int, dimension: str | None = None):
    book = Workbook()
    sheet = book.active
    sheet.append(["Company name", "Visits"])
    for i in range(rows):
        sheet.append([f"Firm {i} Oy", i + 1])
    book.save(path)
    if dimension:
        _rewrite_sheet(path, lambda xml: re.sub(rb'<dimension ref="[^"]*"\s*/>', f'<dimension ref="{dimension}"/>'.encode(), xml))
    return path


def _rewrite_sheet(path, change):
    members = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            members[info.filename] = archive.read(info.filename)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, change(data) if name.startswith("xl/worksheets/sheet") else data)


@pytest.mark.parametrize("dimension", ["A1:B2", "A1:XFD1048576", "A1"])
def test_xlsx_whose_dimension_lies_is_read_by_its_real_rows(tmp_path, dimension):
    path = _xlsx(tmp_path / "export.xlsx", 30, dimension)
    header, rows = read_xlsx_export(path)
    rows = list(rows)
    assert len(header) == 2 and len(rows) == 30
    assert all(len(cells) <= 2 for _, cells in rows)  # never 16,384 cells a row
    parsed, rejects = parse_table(header, rows, now=NOW)
    assert len(parsed) == 30 and rejects == []


def test_a_damaged_xlsx_keeps_the_rows_before_the_damage(tmp_path):
    path = _xlsx(tmp_path / "export.xlsx", 5000)
    _rewrite_sheet(path, lambda xml: xml[: len(xml) // 2] + b"<<garbage")
    parsed, rejects = parse_table(*read_xlsx_export(path), now=NOW)
    assert 1000 < len(parsed) < 5000
    assert rejects[-1][1] == "the file is damaged after this row: the rest is not read"
    truncated = tmp_path / "cut.xlsx"
    truncated.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(InputError):
        read_xlsx_export(truncated)


def test_read_export_never_raises_anything_but_a_one_line_input_error(tmp_path):
    from enrich.leadfeeder import read_export

    cases = {
        "a.json": b'{"data": [1, 2', "b.json": b"[1e999999, NaN]", "c.json": b'\xff\xfe{"data": []}',
        "d.csv": b"", "e.xlsx": b"PK\x03\x04 not a zip", "f.json": b'"just a string"', "g.csv": b"\x00\x01\x02",
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        try:
            read_export(path, HELSINKI, now=NOW)
        except InputError as exc:
            assert "\n" not in str(exc)


def test_ytj_answers_of_the_wrong_shape_never_fail_a_night():
    assert parse_search({"totalResults": "1e999", "companies": "x"}) == (0, [])
    assert parse_search({"totalResults": float("inf"), "companies": [1, None, {"businessId": 5}]}) == (0, [])
    assert parse_search([1, 2]) == (0, [])
    good = company(bid(1234567), "Hyvä Oy")
    total, (found,) = parse_search({"totalResults": 1, "companies": [{"names": "x"}, good]})
    assert total == 1 and found.name == "Hyvä Oy"


def test_ytj_answer_nested_too_deeply_is_a_permanent_error(httpserver):
    httpserver.expect_request("/v3/companies").respond_with_data(
        '{"companies": ' + "[" * 200_000 + "]" * 200_000 + "}", content_type="application/json")
    client = YtjClient(httpserver.url_for("/v3"), http=PoliteClient(min_interval=0, sleep=lambda s: None))
    with pytest.raises(PermanentError):
        client.search("Kalliodata")


# --- item 11: time stays sane -----------------------------------------------------------------------


@pytest.mark.parametrize("last", ["24.11.9999", "1.1.2100", "1.1.1970", "2026-11-24T10:00:00+23:00", "2026-12-24"])
def test_implausible_export_dates_are_rejected_fields(con, last):
    header, rows = read_csv_export(_csv("Company;First visit;Last visit", f"Kalliodata Oy;20.11.2026;{last}"))
    (row,), rejects = parse_table(header, rows, HELSINKI, now=NOW)
    assert row.last_visit is None and row.first_visit is not None and rejects == [(2, "implausible timestamp")]
    rows, rejects = parse_api_json([{"name": "Kalliodata Oy", "last_visit_date": last}], now=NOW)
    assert rows[0].last_visit is None and rejects == [(1, "implausible timestamp")]


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59", "2100-01-01T00:00:00", "1990-01-01", "2026-11-20T10:00:00+15:00"])
def test_implausible_form_times_are_rejects(when):
    data = json.dumps({"time": when, "name": "Maija", "email": "maija@firma.fi"}).encode()
    submissions, rejects = parse_forms(data, HELSINKI, now=NOW)
    assert submissions == [] and rejects == [(1, "implausible timestamp")]


# --- item 12: bounded time and memory ---------------------------------------------------------------


def test_ytj_name_search_stops_when_pages_repeat_or_the_cap_is_reached(httpserver):
    companies = [company(bid(4000000 + i * 11), f"Toisto {i} Oy") for i in range(100)]
    asked = []

    def answer(request):  # a register that ignores 'page' and claims a million results
        asked.append(request.args.get("page"))
        return Response(json.dumps({"totalResults": 1_000_000, "companies": companies}), content_type="application/json")

    httpserver.expect_request("/v3/companies").respond_with_handler(answer)
    client = YtjClient(httpserver.url_for("/v3"), http=PoliteClient(min_interval=0, sleep=lambda s: None))
    assert len(client.search("Toisto")) == 100
    assert asked == [None, "2"]  # page 2 repeated page 1: nothing more to find

    fresh = iter(range(10_000))

    def endless(request):  # every page new, for ever
        asked.append(request.args.get("page"))
        rows = [company(bid(5000000 + next(fresh) * 11 % 2_000_000), f"Loputon {i} Oy") for i in range(100)]
        return Response(json.dumps({"totalResults": 10**12, "companies": rows}), content_type="application/json")

    httpserver.clear()
    httpserver.expect_request("/v3/companies").respond_with_handler(endless)
    asked.clear()
    assert len(client.search("Loputon")) <= client.max_pages * 100 and len(asked) == client.max_pages


def test_large_xlsx_exports_stream_in_bounded_memory(tmp_path):
    import tracemalloc

    path = _xlsx(tmp_path / "big.xlsx", 3_000, "A1:XFD1048576")  # today: 16,384 cells a row, 400 MB
    tracemalloc.start()
    header, rows = read_xlsx_export(path)
    count = sum(1 for _ in rows)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 3_000 and peak < 30 << 20, peak


# --- the whole night: every attack above at once, and the night still loads -------------------------


def _night(tmp_path, **values):
    from flows.config import load_settings

    base = {"db": str(tmp_path / "leads.duckdb"), "offline": True, "report_dir": str(tmp_path / "reports")}
    return load_settings({**base, **values}, None, {"LEADPIPE_CONFIG_DIR": str(tmp_path / "cfg")})


def test_a_night_of_hostile_inputs_loads_what_is_good(tmp_path):
    from flows import engine

    logs = write_log(tmp_path / "access.log", [
        combined(ts="24/Nov/2026:10:00:00 +0200"), combined(ts="24/Nov/9999:10:00:00 +0200"), "",
        '85.76.1.10 - matti [24/Nov/2026:10:00:00] "GET /?email=matti@firma.fi HTTP/1.1" 200 1',
    ])
    export = tmp_path / "export.csv"
    export.write_bytes(_csv("Company name;Contact email;Visits;Last visit", "Kalliodata Oy;maija@kalliodata.fi;1e30;24.11.9999",
                            f"Big Oy;x;{'x' * 300_000};", "Metsä Oy;;3;20.11.2026"))
    sheet = _xlsx(tmp_path / "export.xlsx", 50, "A1:B2")
    forms = tmp_path / "forms.jsonl"
    forms.write_bytes(b'{"name": "Maija", "email": "maija@firma.fi", "time": "2026-11-20T10:00:00"}\n'
                      + b"[" * 100_000 + b"\n" + b'{"name": "Teppo", "email": "teppo@firma.fi", "time": "2100-01-01"}\n')
    settings = _night(tmp_path, logs=[str(logs)], leadfeeder=[str(export), str(sheet)], forms=[str(forms)])
    stats = engine.execute(settings, "run", ["ingest", "leadfeeder", "forms", "load", "report"])
    assert stats["rejects_by_reason"] == {"empty line": 1, "implausible timestamp": 1, "bad timestamp": 1}
    assert stats["pageviews"] == 1 and stats["leadfeeder_rows"] == 52 and stats["contacts"] == 1
    assert stats["forms_rejected"] == 2
    with duckdb.connect(str(settings.db), read_only=True) as con:
        reasons = [r for (r,) in con.execute("SELECT reason FROM rejects").fetchall()]
        text = "\n".join(str(row) for row in con.execute("SELECT * FROM rejects").fetchall())
        extra = con.execute("SELECT string_agg(CAST(extra AS VARCHAR), ' ') FROM company_sources").fetchall()[0][0]
        period = con.execute("SELECT max(period_end) FROM reports").fetchall()[0][0]
    assert {"implausible timestamp", "a field over the size limit", "unreadable visits"} <= set(reasons)
    assert "matti" not in text and "maija" not in text and "85.76" not in text
    assert "maija" not in (extra or "")
    assert period.year == 2026  # the line dated 9999 did not move the report's period


def test_a_deeply_nested_export_is_one_reject_in_a_night(tmp_path):
    from flows import engine

    deep = tmp_path / "leads.json"
    deep.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    good = tmp_path / "export.csv"
    good.write_bytes(_csv("Company name;Visits", "Kalliodata Oy;3"))
    stats = engine.execute(_night(tmp_path, leadfeeder=[str(deep), str(good)]), "run", ["leadfeeder"])
    assert stats["leadfeeder_rejected"] == 1 and stats["leadfeeder_rows"] == 1


def test_a_download_that_trickles_or_never_ends_stops_the_file_not_the_night(tmp_path, httpserver):
    import time

    import requests
    from werkzeug.wrappers import Response

    from enrich.errors import InputError
    from enrich.downloads import download

    def trickle(request):
        def body():
            for _ in range(40):
                time.sleep(0.05)
                yield b"x" * 100
        return Response(body(), content_type="text/plain")

    httpserver.expect_request("/slow.log").respond_with_handler(trickle)
    httpserver.expect_request("/big.log").respond_with_data("y" * 5000)
    with requests.Session() as session:
        started = time.monotonic()
        with pytest.raises(InputError, match="still arriving"):
            download(httpserver.url_for("/slow.log"), tmp_path / "slow", session, deadline_seconds=0.3)
        assert time.monotonic() - started < 5
        with pytest.raises(InputError, match="larger than"):
            download(httpserver.url_for("/big.log"), tmp_path / "big", session, max_bytes=1000)

"""Pulling logs over HTTP(S) from a real server on 127.0.0.1: auth from the environment, errors in one line."""

import gzip

import pytest
from werkzeug.wrappers import Response

from enrich.errors import InputError
from enrich.downloads import expand_templates
from enrich.weblogs import expand_sources
from flows import engine
from flows.context import Registries
from flows.config import load_settings
from sinks import database
from tests.conftest import combined


def _lines():
    return "".join(combined(ts=f"24/Nov/2026:10:{m:02d}:00 +0200") + "\n" for m in range(5)).encode()


def test_pulls_a_gzip_log_with_basic_auth_from_the_environment(httpserver, tmp_path):
    body = gzip.compress(_lines())

    def handler(request):
        if request.authorization is None or request.authorization.password != "s3cret":
            return Response("no", status=401)
        return Response(body, content_type="application/gzip")

    httpserver.expect_request("/logs/access.log-20261124.gz").respond_with_handler(handler)
    url = httpserver.url_for("/logs/access.log-{yesterday:%Y%m%d}.gz")
    env = {"LEADPIPE_HTTP_USER": "leadpipe", "LEADPIPE_HTTP_PASSWORD": "s3cret",
           "LEADPIPE_CONFIG_DIR": str(tmp_path / "cfg")}
    settings = load_settings({"db": str(tmp_path / "db.duckdb"), "logs": [url]}, None, env)
    sources = expand_sources(expand_templates(settings.logs, today=__import__("datetime").date(2026, 11, 25)))
    files = Registries.for_run(settings, tmp_path).downloads.log_files(sources)
    assert files[0][0].stream == "access.log"
    assert gzip.decompress(files[0][1].read_bytes()) == _lines()


def test_http_errors_are_one_line_and_the_run_fails_cleanly(httpserver, tmp_path):
    httpserver.expect_request("/missing.log").respond_with_data("gone", status=404)
    settings = load_settings(
        {"db": str(tmp_path / "db.duckdb"), "logs": [httpserver.url_for("/missing.log")]},
        None, {"LEADPIPE_CONFIG_DIR": str(tmp_path / "cfg")},
    )
    with pytest.raises(InputError, match=r"HTTP 404"):
        engine.execute(settings, "ingest", ["ingest"])
    with database.open_snapshot(settings.db) as con:
        assert con.execute("SELECT status FROM runs").fetchall() == [("failed",)]


def test_offline_never_fetches(tmp_path):
    settings = load_settings({"logs": ["https://example.invalid/access.log"], "offline": True}, None, {})
    with pytest.raises(Exception, match="--offline"):
        Registries.for_run(settings, tmp_path).downloads.log_files(expand_sources(settings.logs))

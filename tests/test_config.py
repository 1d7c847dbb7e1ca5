"""Settings: defaults < leadpipe.toml < environment < command line."""

from datetime import date
from pathlib import Path

import pytest

from enrich.errors import ConfigError
from flows.config import load_settings
from enrich.downloads import expand_templates
from flows.context import window


def test_precedence(tmp_path):
    config = tmp_path / "leadpipe.toml"
    config.write_text('[leadpipe]\ndb = "from-toml.duckdb"\nsession_gap_minutes = 20\nlogs = ["a.log"]\n')
    env = {"LEADPIPE_DB": "from-env.duckdb", "LEADPIPE_LOGS": "b.log;c.log"}
    settings = load_settings({"logs": ["d.log"]}, config, env)
    assert settings.db == Path("from-env.duckdb")
    assert settings.logs == ("d.log",)
    assert settings.session_gap_minutes == 20
    assert load_settings({}, config, env).logs == ("b.log", "c.log")


@pytest.mark.parametrize(
    "text", ["session_gap_minutes = -5", "unknown_key = 1", 'since = "yesterday"', "offline = 'maybe'"]
)
def test_bad_values_are_config_errors(tmp_path, text):
    config = tmp_path / "leadpipe.toml"
    config.write_text(text + "\n")
    with pytest.raises(ConfigError):
        load_settings({}, config, {})


def test_credentials_come_from_the_environment_only():
    settings = load_settings({}, None, {"LEADPIPE_HTTP_USER": "u", "LEADPIPE_HTTP_PASSWORD": "p"})
    assert settings.http_auth == ("u", "p")
    assert "p" not in repr(settings).split("http_auth")[0][-5:]


def test_window_is_local_days_in_utc():
    settings = load_settings({"since": "2026-10-25", "until": "2026-10-25"}, None, {})
    since, until = window(settings)
    assert since.isoformat() == "2026-10-24T21:00:00+00:00"  # local midnight, EEST
    assert until.isoformat() == "2026-10-25T22:00:00+00:00"  # next local midnight, EET
    assert (until - since).total_seconds() == 25 * 3600  # the DST day is 25 hours long


def test_yesterday_template():
    out = expand_templates(("https://web/logs/access.log-{yesterday:%Y%m%d}.gz", "plain.log"), date(2026, 11, 25))
    assert out == ["https://web/logs/access.log-20261124.gz", "plain.log"]


def test_intent_pages_from_toml_and_environment(tmp_path):
    config = tmp_path / "leadpipe.toml"
    config.write_text('[leadpipe.intent_pages]\npricing = "(?i)pric"\ntrial = "(?i)/trial"\n')
    assert load_settings({}, config, {}).intent_pages == (("(?i)pric", "pricing"), ("(?i)/trial", "trial"))
    env = {"LEADPIPE_INTENT_PAGES": "pricing=(?i)hinnasto;demo=/demo"}
    assert load_settings({}, None, env).intent_pages == (("(?i)hinnasto", "pricing"), ("/demo", "demo"))


def test_the_smtp_sender_is_an_address():
    assert load_settings(env={"LEADPIPE_SMTP_SENDER": "leads@example.fi"}).smtp_sender == "leads@example.fi"
    with pytest.raises(ConfigError, match="smtp_sender.*not an e-mail address"):
        load_settings(env={"LEADPIPE_SMTP_SENDER": "not an address"})

"""Configuration, resolved once at the entry point.

Every setting is declared once, as a field of :class:`Settings`: its type,
its default and its meaning. Its ``leadpipe.toml`` key is the field's name and
its environment variable is ``LEADPIPE_`` + the name in capitals; the parser
follows the declared type. Precedence, highest first: command-line options,
environment variables, ``leadpipe.toml``, the defaults below. Library code in
``enrich/`` and ``sinks/`` never reads the environment: it receives values
from here.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import date
from pathlib import Path
from typing import Any, get_type_hints

from enrich.errors import ConfigError
from flows.setting_values import (PARSERS, address, intent_pages, memory, positive, smtp_port, smtp_security,
                                  two_timeouts, webhook_format, zone)
from sinks.feeds import Feed, parse_feeds

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT / "data"
DEFAULT_RDAP_URL = "https://rdap.arin.net/registry"
DEFAULT_YTJ_URL = "https://avoindata.prh.fi/opendata-ytj-api/v3"
ENV_PREFIX = "LEADPIPE_"


def setting(default: Any, *, check: Callable[[Any], None] | None = None,
            parse: Callable[[object], Any] | None = None, secret: bool = False, quote: bool = True) -> Any:
    """One declared setting: its default, an optional check or custom parser.

    A ``secret`` comes from the environment only (never a file or the command
    line) and is never shown in a ``repr``. A bad value is quoted in its error
    unless ``quote`` is false (feeds: their recipients are never shown).
    """
    return field(default=default, repr=not secret,
                 metadata={"check": check, "parse": parse, "secret": secret, "quote": quote})


@dataclass(frozen=True)
class Settings:
    """Everything a run needs to know, with no I/O behind it."""

    db: Path = setting(Path("leadpipe.duckdb"))  # the analysts' DuckDB file (the published snapshot)
    logs: tuple[str, ...] = setting(())  # access logs: paths, globs or URLs
    leadfeeder: tuple[str, ...] = setting(())  # Leadfeeder-style exports
    forms: tuple[str, ...] = setting(())  # form, chat and configurator submissions
    since: date | None = setting(None)  # first day to load (configured time zone)
    until: date | None = setting(None)  # last day to load
    offline: bool = setting(False)  # no network lookups: lists and caches only
    report_dir: Path = setting(Path("reports"))
    #: where sales open report_dir's files (a web server or share: https://intra.example/leads/); the e-mail
    #: and the CRM push link reports under it. Unset: the e-mail attaches the report, the push links nothing.
    report_url: str | None = setting(None)
    #: the CRM push (LEADPIPE_WEBHOOK_URL, below): the message format, the lowest score pushed, pushes per run
    webhook_format: str = setting("generic", check=webhook_format)  # generic, slack or teams
    push_min_score: float = setting(0.0)  # leads below this score are neither pushed nor in the CRM file
    push_max: int = setting(50, check=positive)  # pushes per run, best first; the rest wait for the next run
    config_dir: Path = setting(Path.home() / ".config" / "leadpipe")  # secret.key, Prefect's state, pending file
    data_dir: Path = setting(DEFAULT_DATA_DIR)  # bot list, known organisations
    trusted_proxies: tuple[str, ...] = setting(())
    internal_networks: tuple[str, ...] = setting(())
    session_gap_minutes: int = setting(30, check=positive)
    retention_months: int = setting(13, check=positive)
    store_ip_prefix: bool = setting(False)
    schedule: str = setting("0 3 * * *")
    serve_port: int = setting(4200, check=positive)  # `leadpipe serve`'s local Prefect server (UI and API)
    timezone: str = setting("Europe/Helsinki", check=zone)  # the business's days: reports, windows, daily totals
    rdap_url: str = setting(DEFAULT_RDAP_URL)
    ytj_url: str = setting(DEFAULT_YTJ_URL)
    memory_limit: str = setting("700MB", check=memory)
    network_ttl_days: int = setting(30, check=positive)
    rdap_min_interval: float = setting(1.0)  # seconds between two requests to one registry
    rdap_max_requests: int = setting(2000, check=positive)  # per run; the rest of the addresses wait
    max_log_file_gb: int = setting(20, check=positive)  # a log file stops (a counted reject) past this
    unresolved_keep_days: int = setting(7, check=positive)  # how long an unresolved address waits (private)
    ytj_min_interval: float = setting(0.25)  # PRH: 300 searches a minute, shared by all users
    register_ttl_days: int = setting(30, check=positive)
    #: seconds to wait before each retry of a registry request (429 waits for Retry-After instead)
    retry_backoff: tuple[float, ...] = setting((1.0, 2.0, 4.0))
    #: (connect, read) timeouts of registry requests, seconds
    request_timeout: tuple[float, ...] = setting((5.0, 20.0), check=two_timeouts)
    #: (regular expression on the path, label) of pages that show buying intent
    intent_pages: tuple[tuple[str, str], ...] = setting((
        ("(?i)pric|hinnasto|hinnat", "pricing"),
        ("(?i)contact|yhteystiedot|ota-yhteytta", "contact"),
        ("(?i)/demo|book-a-demo|esittely", "demo"),
        ("(?i)configurator|konfiguraattori|quote|tarjous", "configurator"),
    ), parse=intent_pages)
    # Credentials: the environment only. LEADPIPE_HTTP_USER and LEADPIPE_HTTP_PASSWORD together.
    #: named feeds, [leadpipe.feeds.NAME] tables (sinks/feeds.py): report sections, CSVs, morning e-mails
    feeds: tuple[Feed, ...] = setting((), parse=parse_feeds, quote=False)
    smtp_host: str | None = setting(None)  # the morning e-mail's SMTP server; unset: .eml files beside the report
    smtp_port: int = setting(0, check=smtp_port)  # 0: 587 (starttls), 465 (ssl), 25 (none)
    smtp_security: str = setting("starttls", check=smtp_security)  # starttls, ssl or none
    smtp_sender: str | None = setting(None, check=address)  # the From address (needed with smtp_host)
    smtp_timeout: float = setting(30.0)  # seconds for each SMTP exchange
    # LEADPIPE_SMTP_USER and LEADPIPE_SMTP_PASSWORD together.
    smtp_auth: tuple[str, str] | None = setting(None, secret=True)
    http_auth: tuple[str, str] | None = setting(None, secret=True)
    http_token: str | None = setting(None, secret=True)
    leadfeeder_token: str | None = setting(None, secret=True)
    #: the CRM push's webhook: Slack's and Teams' URLs carry their token, so LEADPIPE_WEBHOOK_URL only
    webhook_url: str | None = setting(None, secret=True)

    @property
    def secret_path(self) -> Path:
        return self.config_dir / "secret.key"

    @property
    def prefect_home(self) -> Path:
        return self.config_dir / "prefect"


def env_name(key: str) -> str:
    return ENV_PREFIX + key.upper()


_TYPES = get_type_hints(Settings)
#: The settings a file, the environment or the command line may give (secrets: the environment only).
KEYS = tuple(f.name for f in fields(Settings) if not f.metadata["secret"])
_FIELDS = {f.name: f for f in fields(Settings)}


def _coerce(key: str, value: object, origin: str) -> object:
    """``value`` as the declared type of setting ``key``; a bad one is one ConfigError line."""
    meta = _FIELDS[key].metadata
    try:
        parsed = (meta["parse"] or PARSERS[_TYPES[key]])(value)
        if meta["check"]:
            meta["check"](parsed)
        return parsed
    except (TypeError, ValueError) as exc:
        if not meta["quote"]:
            raise ConfigError(f"{origin}: {key}: {exc}") from None
        if origin.startswith("--"):  # the command line: the option as typed
            raise ConfigError(f"{origin} {value!r}: {exc}") from None
        raise ConfigError(f"{origin}: bad value for {key!r}: {value!r} ({exc})") from None


def find_config_file(explicit: Path | None, env: dict[str, str]) -> Path | None:
    if explicit is not None:
        return explicit
    if env.get("LEADPIPE_CONFIG"):
        return Path(env["LEADPIPE_CONFIG"]).expanduser()
    local = Path("leadpipe.toml")
    return local if local.exists() else None


def read_config_file(path: Path) -> dict[str, object]:
    """Read leadpipe.toml; any problem is one ConfigError line."""
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    table = raw.get("leadpipe", raw)
    if not isinstance(table, dict):
        raise ConfigError(f"config file {path}: [leadpipe] must be a table")
    unknown = sorted(set(table) - set(KEYS) - {"leadpipe"})
    if unknown:
        raise ConfigError(f"config file {path}: unknown setting(s): {', '.join(unknown)}")
    return {k: _coerce(k, v, str(path)) for k, v in table.items() if k in KEYS}


def load_settings(
    cli: dict[str, object] | None = None,
    config_file: Path | None = None,
    env: dict[str, str] | None = None,
) -> Settings:
    """Merge defaults, leadpipe.toml, environment and CLI values into Settings.

    Args:
        cli: options given on the command line; ``None`` or empty values are ignored.
        config_file: an explicit ``--config`` path.
        env: the environment (defaults to ``os.environ``).

    Raises:
        ConfigError: unreadable config or a value of the wrong type.
    """
    env = dict(os.environ if env is None else env)
    values: dict[str, object] = {}
    path = find_config_file(config_file, env)
    if path is not None:
        values.update(read_config_file(path))
    for key in KEYS:
        if env.get(env_name(key)):
            values[key] = _coerce(key, env[env_name(key)], f"${env_name(key)}")
    for key, value in (cli or {}).items():
        if value is None or value == () or value == []:
            continue
        values[key] = _coerce(key, value, "--" + key.replace("_", "-"))
    user, password = env.get("LEADPIPE_HTTP_USER"), env.get("LEADPIPE_HTTP_PASSWORD")
    if user and password:
        values["http_auth"] = (user, password)
    user, password = env.get("LEADPIPE_SMTP_USER"), env.get("LEADPIPE_SMTP_PASSWORD")
    if user and password:
        values["smtp_auth"] = (user, password)
    for key in ("http_token", "leadfeeder_token", "webhook_url"):
        if env.get(env_name(key)):
            values[key] = env[env_name(key)]
    settings = replace(Settings(), **values)
    if settings.since and settings.until and settings.since > settings.until:
        raise ConfigError(f"--since {settings.since} is after --until {settings.until}")
    if settings.smtp_host and not settings.smtp_sender:
        raise ConfigError("smtp_host is set but smtp_sender (the From address) is not")
    return settings


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents as 0700; return it."""
    for directory in reversed([path, *path.parents]):
        if not directory.exists():
            directory.mkdir(mode=0o700)
    return path


def load_or_create_secret(settings: Settings) -> bytes:
    """The keyed-hash secret: generated on first use, 0600, outside the database.

    Raises:
        ConfigError: the secret file exists but cannot be read or is malformed.
    """
    path = settings.secret_path
    if not path.exists():
        ensure_private_dir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    try:
        text = path.read_text().strip()
        key = bytes.fromhex(text)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the keyed-hash secret {path}: {exc}") from None
    if len(key) < 16:
        raise ConfigError(f"the keyed-hash secret {path} is too short")
    return key

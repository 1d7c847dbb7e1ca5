"""Configuration, resolved once at the entry point.

Precedence, highest first: command-line options, environment variables
(``LEADPIPE_*``), ``leadpipe.toml``, built-in defaults. Library code in
``enrich/`` and ``sinks/`` never reads the environment: it receives a
:class:`Settings` (or plain arguments) from here.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from enrich.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT / "data"
DEFAULT_RDAP_URL = "https://rdap.arin.net/registry"
DEFAULT_YTJ_URL = "https://avoindata.prh.fi/opendata-ytj-api/v3"


@dataclass(frozen=True)
class Settings:
    """Everything a run needs to know, with no I/O behind it."""

    db: Path = Path("leadpipe.duckdb")
    logs: tuple[str, ...] = ()
    leadfeeder: tuple[str, ...] = ()
    forms: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None
    offline: bool = False
    report_dir: Path = Path("reports")
    config_dir: Path = Path.home() / ".config" / "leadpipe"
    data_dir: Path = DEFAULT_DATA_DIR
    trusted_proxies: tuple[str, ...] = ()
    internal_networks: tuple[str, ...] = ()
    session_gap_minutes: int = 30
    retention_months: int = 13
    store_ip_prefix: bool = False
    schedule: str = "0 3 * * *"
    timezone: str = "Europe/Helsinki"
    rdap_url: str = DEFAULT_RDAP_URL
    ytj_url: str = DEFAULT_YTJ_URL
    memory_limit: str = "700MB"
    network_ttl_days: int = 30
    rdap_min_interval: float = 1.0  # seconds between two requests to one registry
    rdap_max_requests: int = 2000  # registry requests per run; the rest of the addresses wait for the next
    max_log_file_gb: int = 20  # a log file stops (with a counted reject) past this much decompressed data
    unresolved_keep_days: int = 7  # how long an address without a final answer waits (private file)
    ytj_min_interval: float = 0.25  # PRH: 300 searches a minute, shared by all users
    register_ttl_days: int = 30
    #: seconds to wait before each retry of a registry request (429 waits for Retry-After instead)
    retry_backoff: tuple[float, ...] = (1.0, 2.0, 4.0)
    #: (connect, read) timeouts of registry requests, seconds
    request_timeout: tuple[float, ...] = (5.0, 20.0)
    #: (regular expression on the path, label) of pages that show buying intent
    intent_pages: tuple[tuple[str, str], ...] = (
        ("(?i)pric|hinnasto|hinnat", "pricing"),
        ("(?i)contact|yhteystiedot|ota-yhteytta", "contact"),
        ("(?i)/demo|book-a-demo|esittely", "demo"),
        ("(?i)configurator|konfiguraattori|quote|tarjous", "configurator"),
    )
    # Credentials for pulling logs over HTTP(S): environment only, never CLI.
    http_auth: tuple[str, str] | None = field(default=None, repr=False)
    http_token: str | None = field(default=None, repr=False)
    leadfeeder_token: str | None = field(default=None, repr=False)

    @property
    def secret_path(self) -> Path:
        return self.config_dir / "secret.key"

    @property
    def prefect_home(self) -> Path:
        return self.config_dir / "prefect"


# Keys accepted in leadpipe.toml (top level or under [leadpipe]) and their
# environment variable names. Lists in the environment are separated by
# os.pathsep (":" on Linux) except globs/URLs, which use newlines or ";".
_KEYS = {
    "db": "LEADPIPE_DB",
    "logs": "LEADPIPE_LOGS",
    "leadfeeder": "LEADPIPE_LEADFEEDER",
    "forms": "LEADPIPE_FORMS",
    "since": "LEADPIPE_SINCE",
    "until": "LEADPIPE_UNTIL",
    "offline": "LEADPIPE_OFFLINE",
    "report_dir": "LEADPIPE_REPORT_DIR",
    "config_dir": "LEADPIPE_CONFIG_DIR",
    "data_dir": "LEADPIPE_DATA_DIR",
    "trusted_proxies": "LEADPIPE_TRUSTED_PROXIES",
    "internal_networks": "LEADPIPE_INTERNAL_NETWORKS",
    "session_gap_minutes": "LEADPIPE_SESSION_GAP_MINUTES",
    "retention_months": "LEADPIPE_RETENTION_MONTHS",
    "store_ip_prefix": "LEADPIPE_STORE_IP_PREFIX",
    "schedule": "LEADPIPE_SCHEDULE",
    "timezone": "LEADPIPE_TIMEZONE",
    "rdap_url": "LEADPIPE_RDAP_URL",
    "ytj_url": "LEADPIPE_YTJ_URL",
    "memory_limit": "LEADPIPE_MEMORY_LIMIT",
    "network_ttl_days": "LEADPIPE_NETWORK_TTL_DAYS",
    "rdap_min_interval": "LEADPIPE_RDAP_MIN_INTERVAL",
    "rdap_max_requests": "LEADPIPE_RDAP_MAX_REQUESTS",
    "max_log_file_gb": "LEADPIPE_MAX_LOG_FILE_GB",
    "unresolved_keep_days": "LEADPIPE_UNRESOLVED_KEEP_DAYS",
    "ytj_min_interval": "LEADPIPE_YTJ_MIN_INTERVAL",
    "register_ttl_days": "LEADPIPE_REGISTER_TTL_DAYS",
    "intent_pages": "LEADPIPE_INTENT_PAGES",
    "retry_backoff": "LEADPIPE_RETRY_BACKOFF",
    "request_timeout": "LEADPIPE_REQUEST_TIMEOUT",
}
_TUPLES = {"logs", "leadfeeder", "forms", "trusted_proxies", "internal_networks"}
_PATHS = {"db", "report_dir", "config_dir", "data_dir"}
_INTS = {"session_gap_minutes", "retention_months", "network_ttl_days", "register_ttl_days", "rdap_max_requests",
         "unresolved_keep_days", "max_log_file_gb"}
_FLOATS = {"rdap_min_interval", "ytj_min_interval"}
_BOOLS = {"offline", "store_ip_prefix"}
_DATES = {"since", "until"}


def _coerce(key: str, value: object, origin: str) -> object:
    try:
        if key == "intent_pages":
            # TOML: {pricing = "(?i)pric|hinnasto", ...}; environment: label=pattern;label=pattern
            pairs = value.items() if isinstance(value, dict) else (
                part.split("=", 1) for part in str(value).split(";") if "=" in part)
            return tuple((str(pattern), str(label)) for label, pattern in pairs)
        if key in _TUPLES:
            if isinstance(value, str):
                parts = value.replace("\n", ";").split(";")
                return tuple(p.strip() for p in parts if p.strip())
            return tuple(str(v) for v in value)  # type: ignore[union-attr]
        if key in _PATHS:
            return Path(str(value)).expanduser()
        if key in _INTS:
            number = int(value)  # type: ignore[arg-type]
            if number <= 0:
                raise ValueError("must be positive")
            return number
        if key in {"retry_backoff", "request_timeout"}:
            parts = value.replace(";", ",").split(",") if isinstance(value, str) else value
            numbers = tuple(float(p) for p in parts)  # type: ignore[union-attr]
            if not numbers or any(n < 0 for n in numbers) or (key == "request_timeout" and len(numbers) != 2):
                raise ValueError("expected non-negative seconds" + (" (connect, read)" if key == "request_timeout" else ""))
            return numbers
        if key in _FLOATS:
            number = float(value)  # type: ignore[arg-type]
            if number < 0:
                raise ValueError("must not be negative")
            return number
        if key in _BOOLS:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError("expected true or false")
        if key in _DATES:
            if isinstance(value, date):
                return value
            return date.fromisoformat(str(value))
        return str(value)
    except (TypeError, ValueError) as exc:
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
    unknown = sorted(set(table) - set(_KEYS) - {"leadpipe"})
    if unknown:
        raise ConfigError(f"config file {path}: unknown setting(s): {', '.join(unknown)}")
    return {k: _coerce(k, v, str(path)) for k, v in table.items() if k in _KEYS}


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
    for key, var in _KEYS.items():
        if env.get(var):
            values[key] = _coerce(key, env[var], f"${var}")
    for key, value in (cli or {}).items():
        if value is None or value == () or value == []:
            continue
        values[key] = _coerce(key, value, "command line")
    user, password = env.get("LEADPIPE_HTTP_USER"), env.get("LEADPIPE_HTTP_PASSWORD")
    if user and password:
        values["http_auth"] = (user, password)
    if env.get("LEADPIPE_HTTP_TOKEN"):
        values["http_token"] = env["LEADPIPE_HTTP_TOKEN"]
    if env.get("LEADPIPE_LEADFEEDER_TOKEN"):
        values["leadfeeder_token"] = env["LEADPIPE_LEADFEEDER_TOKEN"]
    settings = replace(Settings(), **values)
    if settings.since and settings.until and settings.since > settings.until:
        raise ConfigError(f"--since {settings.since} is after --until {settings.until}")
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

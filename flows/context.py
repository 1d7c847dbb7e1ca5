"""What one run shares, built once: settings, connection, secret, time window, the outside world.

The outside world — the registries and downloads — is chosen once per run:
online clients, or the offline variant (no registry clients, URLs refused).
Stages never ask whether the run is offline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb

from enrich import bots
from enrich.classify import load_known_organisations
from enrich.clients import ProxyPolicy
from enrich.downloads import Downloads
from enrich.errors import ConfigError
from enrich.http import PoliteClient
from enrich.rdap import RdapClient
from enrich.ytj import YtjClient
from flows import __version__
from flows.config import Settings
from flows.progress import RunProgress
from sinks.address_resolution import ResolutionPolicy
from sinks.leads import Period, default_period, report_data
from sinks.pageviews import IngestOptions
from sinks.pending import PendingAddresses
from sinks.privacy import apply_objections, retention_cutoff
from sinks.sources import classify_exported
from sinks.state import record_timezone

USER_AGENT = f"leadpipe/{__version__} (+https://github.com/leadpipe/leadpipe)"


def registry_client(settings: Settings, min_interval: float, accept: str) -> PoliteClient:
    """The polite HTTP client every registry lookup goes through, configured once."""
    return PoliteClient(user_agent=USER_AGENT, accept=accept, min_interval=min_interval,
                        backoff=settings.retry_backoff, timeout=tuple(settings.request_timeout))


@dataclass(frozen=True)
class Registries:
    """The outside world of one run: registry clients (``None`` offline) and downloads."""

    rdap: RdapClient | None
    ytj: YtjClient | None
    downloads: Downloads

    @classmethod
    def for_run(cls, settings: Settings, scratch: Path) -> Registries:
        """Online clients, or — with ``--offline`` — none, and downloads that refuse URLs."""
        downloads = Downloads(scratch, USER_AGENT, settings.http_auth, settings.http_token, settings.offline)
        if settings.offline:
            return cls(None, None, downloads)
        return cls(
            RdapClient(settings.rdap_url,
                       http=registry_client(settings, settings.rdap_min_interval, "application/rdap+json")),
            YtjClient(settings.ytj_url, http=registry_client(settings, settings.ytj_min_interval, "application/json")),
            downloads,
        )


def window(settings: Settings) -> tuple[datetime | None, datetime | None]:
    """``--since``/``--until`` (dates in the configured time zone) as UTC instants.

    ``since`` is inclusive from its local midnight; ``until`` is inclusive of
    its whole day, so the upper bound is the next local midnight.
    """
    zone = ZoneInfo(settings.timezone)

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=zone).astimezone(timezone.utc)

    since = midnight(settings.since) if settings.since else None
    until = midnight(settings.until + timedelta(days=1)) if settings.until else None
    return since, until


def pending_addresses(settings: Settings) -> PendingAddresses:
    """The private file of addresses waiting for resolution, for ``settings.db``."""
    return PendingAddresses(settings.config_dir, settings.db, settings.unresolved_keep_days)


@dataclass
class RunContext:
    """What every stage of one run shares."""

    settings: Settings
    con: duckdb.DuckDBPyConnection
    run_id: int
    scratch: Path  # private, removed after the run (downloads, DuckDB's spill files)
    secret: bytes  # the keyed-hash secret, read once
    registries: Registries
    pending: PendingAddresses  # addresses waiting for resolution: written after publishing
    stats: dict = field(default_factory=dict)  # the run's counts (stored in runs.stats)
    outputs: dict = field(default_factory=dict)  # shown to the operator, never stored (e.g. top leads)
    compact: bool = False  # rewrite the file when publishing: set only when rows were deleted
    progress: RunProgress = field(default_factory=RunProgress)  # where the run is: rows of stages and steps
    _leads: dict = field(default_factory=dict, repr=False)  # Period → the period's leads, once per run

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)

    def today(self) -> date:
        return datetime.now(self.zone).date()

    @staticmethod
    def now() -> datetime:
        return datetime.now(timezone.utc)

    def report_period(self) -> Period:
        """The period the report, the feeds' e-mails and the push cover: ``--since/--until``, else the 30 days
        ending with the last day any source saw a company (:func:`sinks.leads.default_period`)."""
        settings = self.settings
        period = default_period(self.con, settings.timezone)
        if settings.since or settings.until:
            period = Period(settings.since or period.start, settings.until or period.end, settings.timezone)
        return period

    def leads(self, period: Period) -> dict:
        """The period's leads (:func:`sinks.leads.report_data`, scored in the configured zone), computed once
        per run: the report, the feeds' e-mails and the push read the same rows. Stages that change
        companies run before the first reader. Call inside the stage's transaction (it writes)."""
        if period not in self._leads:
            # who may appear is settled first: objections (a company re-created since is flagged again) and
            # the kinds of companies only exports named (an operator or a private person is never a lead)
            record_timezone(self.con, period.zone)
            apply_objections(self.con, self.secret)
            classify_exported(self.con, load_known_organisations(self.known_file))
            self._leads[period] = report_data(self.con, period)
        return self._leads[period]

    @property
    def known_file(self) -> Path:
        """The curated list of operators' organisations (ISP, mobile, hosting): never leads."""
        return self.settings.data_dir / "networks" / "known-organisations.csv"

    def resolution_policy(self) -> ResolutionPolicy:
        settings = self.settings
        return ResolutionPolicy(self.known_file, settings.rdap_max_requests, settings.network_ttl_days)

    def ingest_options(self) -> IngestOptions:
        """Secret, proxies, bot list and window for the log ingest.

        Raises:
            ConfigError: a trusted proxy or internal network that is not a CIDR block.
        """
        settings = self.settings
        try:
            policy = ProxyPolicy.from_strings(settings.trusted_proxies, settings.internal_networks)
        except ValueError as exc:
            raise ConfigError(f"bad trusted_proxies/internal_networks entry: {exc}") from None
        since, until = window(settings)
        # Lines older than the retention period are never imported: retention has deleted (and counted)
        # their days, and forgot their ledger entries, so reading them again must not count them again.
        oldest = retention_cutoff(self.now(), settings.retention_months, settings.timezone)
        since = max(since, oldest) if since else oldest
        return IngestOptions(
            secret=self.secret, policy=policy, bot_patterns=bots.bot_patterns(settings.data_dir / "bots-extra.txt"),
            since=since, until=until, store_ip_prefix=settings.store_ip_prefix,
            max_file_bytes=settings.max_log_file_gb * 10**9,
        )

"""Resolving a run's addresses to networks: one RDAP request per network, and a retry queue.

``lookup_networks`` walks the addresses that no list or cache settles, in
address order, so one response serves every later address inside its range.
``RetryQueue`` keeps the addresses whose lookup failed for the next run only
(a 0600 file beside the secret, never in DuckDB).
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from enrich.errors import PermanentError, RetryableError
from enrich.networks import KnownOrganisation, Network, block_number, classify, to_number
from enrich.rdap import RdapClient, parse_rdap

log = logging.getLogger("leadpipe")


def lookup_networks(
    todo: list[tuple[str, bool]], client: RdapClient, known: tuple[KnownOrganisation, ...], stats: dict
) -> tuple[list[Network], list[tuple[str, int]], list[str]]:
    """RDAP for the addresses no list or cache settles: one request per network.

    ``todo`` is sorted by address, so an address inside a range fetched in
    this run costs nothing. Inside a broad allocation a smaller assignment may
    hold the address, so the registry is asked once per /24 or /48 block.

    Returns:
        The networks fetched, the (network, block) pairs asked about inside
        broad allocations, and the addresses whose lookup failed.
    """
    fetched: list[Network] = []
    probes: list[tuple[str, int]] = []
    failed: list[str] = []
    asked_blocks: set[int] = set()
    open_ranges: list[Network] = []  # fetched ranges that may still hold the next (larger) address
    for address, provisional in todo:
        number, block = to_number(address), block_number(address)
        open_ranges = [n for n in open_ranges if n.end_num >= number]
        holders = [n for n in open_ranges if n.start_num <= number]
        if any(n.rule != "broad-allocation" for n in holders):
            continue
        if (provisional or holders) and block in asked_blocks:
            continue
        asked_blocks.add(block)
        try:
            payload = client.fetch(address)
            if payload is None:
                stats["rdap_not_found"] += 1
                continue
            network = classify(parse_rdap(payload, address), known)
        except (RetryableError, PermanentError) as exc:
            stats["rdap_failed"] += 1
            failed.append(address)
            log.warning("RDAP lookup failed, left for a later run: %s", exc)
            continue
        finally:
            stats["rdap_requests"] = client.requests_sent
        if network.rule == "broad-allocation":
            probes.append((network.network_id, block))
        if all(n.network_id != network.network_id for n in open_ranges):
            fetched.append(network)
            open_ranges.append(network)
            stats["rdap_networks"] += 1
    return fetched, probes, failed


class RetryQueue:
    """Addresses whose registry lookup failed, kept for the next run only (0600, outside the database).

    An entry leaves the queue when its lookup succeeds, or after ``days``: a
    registry's bad night must not cost a company its visits, nor keep an
    address for long.
    """

    def __init__(self, path: Path, days: int = 7):
        self.path, self.days = path, days

    def load(self, now: datetime) -> list[tuple[str, str]]:
        try:
            entries = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return []
        cutoff = (now - timedelta(days=self.days)).isoformat()
        self._kept = {e["client_key"]: e for e in entries if e.get("first_failed", "") >= cutoff}
        return [(e["client_key"], e["address"]) for e in self._kept.values()]

    def drop(self, client_key: str) -> int:
        """Remove one address (erasure); returns how many entries went."""
        try:
            entries = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return 0
        kept = [e for e in entries if e.get("client_key") != client_key]
        self._kept = {e["client_key"]: e for e in kept}
        self.save([(e["client_key"], e["address"]) for e in kept], datetime.now(timezone.utc))
        return len(entries) - len(kept)

    def save(self, failed: list[tuple[str, str]], now: datetime) -> None:
        """Keep exactly ``failed`` (each with the time it first failed); no file when empty."""
        previous = getattr(self, "_kept", {})
        entries = [{"client_key": key, "address": address,
                    "first_failed": previous.get(key, {}).get("first_failed", now.isoformat())}
                   for key, address in failed]
        if not entries:
            self.path.unlink(missing_ok=True)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(entries, handle)

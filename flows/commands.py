"""Operator one-off commands, each a stage the engine runs and publishes like a night's.

Arguments are checked when the command is built, before the database is
touched: a wrong identifier, kind or block is one line and no run.
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Callable
from pathlib import Path

from enrich.clients import client_key
from enrich.errors import ConfigError
from enrich.networks import KINDS, parse_network_list
from flows.context import RunContext
from sinks import address_resolution, database, erasure, files, network_lists, privacy
from sinks.register_import import import_bulk
from sinks.text import json_text

Stage = Callable[[RunContext], dict]


def privacy_request(action: str, kind: str, value: str, out: Path | None = None) -> Stage:
    """A stage for one data-subject request: ``forget``, ``subject-export`` or ``object``.

    Raises:
        ConfigError: the identifier is not an address, e-mail, visitor key or Business ID (the
            value is never quoted).
    """
    try:
        value = erasure.canonical(kind, value)
    except ValueError as exc:
        raise ConfigError(f"{kind}: {exc}") from None

    def privacy_operation(ctx: RunContext) -> dict:
        now = ctx.now()
        with database.transaction(ctx.con):
            if action == "forget":
                rows = erasure.forget(ctx.con, ctx.secret, kind, value, now)
                if kind == "ip":  # nor may the address wait for resolution
                    rows["pending_addresses"] = ctx.pending.drop(client_key(ctx.secret, value), now)
                # erased rows must not linger in free blocks of the file
                ctx.compact = ctx.compact or any(n for n in rows.values() if isinstance(n, int))
                return {"forgotten": rows}
            if action == "object":
                return {"objection": privacy.object_to_marketing(ctx.con, ctx.secret, kind, value, now)}
            data = privacy.subject_export(ctx.con, ctx.secret, kind, value, now)
            if kind == "ip":  # the address itself may wait, outside the database, for resolution
                data["waiting_for_resolution"] = ctx.pending.holds(client_key(ctx.secret, value))
        text = json_text(data)
        if out is None:
            sys.stdout.write(text)
        else:
            files.write_private(out, text)
        return {"exported": {k: len(v) for k, v in data.items() if isinstance(v, list)}}

    return privacy_operation


def import_network_list(path: Path, source: str) -> Stage:
    """A stage that loads an operator's or a licensed network list (CSV), then attributes the
    addresses that waited for want of a network."""

    def networks_import(ctx: RunContext) -> dict:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read network list {path}: {exc}") from None
        try:
            networks, rejects = parse_network_list(text, source)
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        stored, scrubbed = network_lists.store_list(ctx.con, networks, rejects, str(path),
                                                    ctx.resolution_policy().known_file, ctx.secret, ctx.run_id,
                                                    ctx.now())
        ctx.compact = ctx.compact or scrubbed > 0  # a name overwritten must not linger in free blocks
        # From lists and cache only: importing a list never asks a registry.
        stats = address_resolution.resolve_and_attribute(ctx.con, ctx.pending, None, ctx.resolution_policy(),
                                                         ctx.secret, ctx.now())
        return {"networks_imported": stored, "rows_rejected": len(rejects),
                "addresses_attributed": stats["addresses"] - stats["unresolved"],
                "addresses_pending": stats["addresses_pending"]}

    return networks_import


def classify_network(cidr: str, kind: str) -> Stage:
    """A stage that records the operator's kind for a CIDR block and re-attributes visits."""
    if kind not in KINDS:
        raise ConfigError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    try:
        block = str(ipaddress.ip_network(cidr, strict=False))
    except ValueError as exc:
        raise ConfigError(f"not a CIDR block: {cidr!r} ({exc})") from None

    def networks_classify(ctx: RunContext) -> dict:
        affected = network_lists.override_kind(ctx.con, block, kind, ctx.now())
        return {"override": block, "kind": kind, "networks_affected": affected}

    return networks_classify


def import_register(path: Path, batch_size: int = 10_000) -> Stage:
    """A stage that loads PRH's bulk file (the /all_companies zip, or the JSON inside it)."""

    def register_import(ctx: RunContext) -> dict:
        return import_bulk(ctx.con, path, ctx.scratch, ctx.secret, ctx.run_id, ctx.now(), batch_size)

    return register_import

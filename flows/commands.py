"""Operator one-off commands, each a stage the engine runs and publishes like a night's.

Arguments are checked when the command is built, before the database is
touched: a wrong identifier, kind or block is one line and no run.
"""

from __future__ import annotations

import ipaddress
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from enrich.clients import client_key
from enrich.errors import ConfigError
from enrich.networks import KINDS, LIST_SOURCES, parse_block, parse_network_list, reserved_range
from enrich.tables import decode_text
from flows.context import RunContext
from sinks import address_resolution, database, erasure, files, network_lists, privacy
from sinks.register_import import import_bulk
from sinks.rejects import reason_lines, top_reasons
from sinks.text import json_text

Stage = Callable[[RunContext], dict]
log = logging.getLogger("leadpipe")


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


def import_network_list(path: Path, source: str, replace: bool = False) -> Stage:
    """A stage that loads an operator's or a licensed network list (CSV) in place of the rows the same
    list (source and file) held before, then attributes the addresses that waited for want of a network.

    A row is rejected with its line number and a fixed reason (a bad block, a Business ID that fails its
    check...); a range in a private or reserved block is stored but warned about: no visitor's address
    is ever there (private addresses are never attributed), so it can match nothing.

    Rows of the list's earlier import that the file no longer holds are removed only when no row was
    rejected, and half of the list or more only with ``replace``: their visits lose
    their network, which no later import gives back (addresses are not stored).
    """

    def networks_import(ctx: RunContext) -> dict:
        try:
            text = decode_text(path.read_bytes())
        except OSError as exc:
            raise ConfigError(f"cannot read network list {path}: {exc.strerror or exc}") from None
        try:
            networks, rejects = parse_network_list(text, source)
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        # stored all the same, but no visitor's address is ever there: said, counted, shown
        warnings = [(None, reason) for n in networks if (reason := reserved_range(n))]
        if warnings:
            log.warning("%s: %d range(s) in private or reserved blocks, stored but never matched: %s", path,
                        len(warnings), "; ".join(f"{r} ({k})" for r, k in top_reasons(warnings).items()))
        try:
            stored = network_lists.store_list(ctx.con, networks, rejects, source, str(path.resolve()),
                                              ctx.resolution_policy().known_file, ctx.secret, ctx.run_id, ctx.now(),
                                              replace)
        except network_lists.WouldEmptyList as exc:
            raise ConfigError(f"{path}: {exc}") from None
        ctx.compact = ctx.compact or stored["scrubbed"] > 0 or stored["removed"] > 0  # no name lingers in free blocks
        # From lists and cache only: importing a list never asks a registry.
        stats = address_resolution.resolve_and_attribute(ctx.con, ctx.pending, None, ctx.resolution_policy(),
                                                         ctx.secret, ctx.now())
        return {"networks_imported": stored["stored"], "networks_removed": stored["removed"],
                "networks_kept_because_of_rejects": stored["kept"],
                "rows_reattributed": stored["rows_reattributed"],
                "rows_rejected": len(rejects), "reject_reasons": top_reasons(rejects),
                "rejected_lines": reason_lines(rejects),
                "private_or_reserved_ranges": len(warnings),
                "range_warnings": top_reasons(warnings),
                "addresses_attributed": stats["addresses"] - stats["unresolved"],
                "addresses_pending": stats["addresses_pending"]}

    return networks_import


def _block(cidr: str) -> str:
    try:
        return str(ipaddress.ip_network(cidr.strip(), strict=False))
    except ValueError:
        raise ConfigError("not a CIDR block (e.g. 193.166.220.0/24)") from None


def classify_network(cidr: str, kind: str | None, clear: bool = False) -> Stage:
    """A stage that records the operator's kind for a CIDR block — or, with ``clear``, removes it — and
    re-attributes visits."""
    if clear and kind is not None:
        raise ConfigError("give a kind or --clear, not both")
    if not clear and kind is None:
        raise ConfigError(f"give a kind ({', '.join(KINDS)}) or --clear")
    if kind is not None and kind not in KINDS:
        raise ConfigError(f"kind must be one of {', '.join(KINDS)}")
    block = _block(cidr)

    def networks_classify(ctx: RunContext) -> dict:
        if kind is not None:
            affected = network_lists.override_kind(ctx.con, block, kind, ctx.now())
            return {"override": block, "kind": kind, "networks_affected": affected}
        policy = ctx.resolution_policy()
        try:
            affected = network_lists.clear_override(ctx.con, block, policy.known_file)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        # registry networks under it are classified again, and waiting addresses attributed
        address_resolution.resolve_and_attribute(ctx.con, ctx.pending, None, policy, ctx.secret, ctx.now())
        return {"override_cleared": block, "networks_affected": affected}

    return networks_classify


def remove_network(block: str, source: str | None = None) -> Stage:
    """A stage that removes an operator's or licensed list row (a CIDR block or ``start-end``) and
    re-attributes the visits that carried it."""
    try:
        start, end = parse_block(block)
    except ValueError as exc:
        raise ConfigError(f"{exc} (e.g. 193.166.220.0/24)") from None
    if source is not None and source not in LIST_SOURCES:
        raise ConfigError(f"--source must be one of {', '.join(LIST_SOURCES)}")

    def networks_remove(ctx: RunContext) -> dict:
        try:
            removed = network_lists.remove_entries(ctx.con, start, end, ctx.now(), source)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        ctx.compact = True  # a removed row's names must not linger in free blocks
        stats = address_resolution.resolve_and_attribute(ctx.con, ctx.pending, None, ctx.resolution_policy(),
                                                         ctx.secret, ctx.now())
        return {**removed, "addresses_pending": stats["addresses_pending"]}

    return networks_remove


def import_register(path: Path, batch_size: int = 10_000) -> Stage:
    """A stage that loads PRH's bulk file (the /all_companies zip, or the JSON inside it).

    A file that is not the register's (not a zip, not JSON, no register entry in it) is a one-line
    error; an entry that is not one, or whose Business ID fails its check, is a reject.
    """

    def register_import(ctx: RunContext) -> dict:
        return import_bulk(ctx.con, path, ctx.scratch, ctx.secret, ctx.run_id, ctx.now(), batch_size)

    return register_import


def adopt_secret(ctx: RunContext) -> dict:
    """The stage of ``leadpipe secret adopt``: the engine recorded this run's key as the database's
    (the old one is lost); the act is in the audit log."""
    with database.transaction(ctx.con):
        erasure.audit(ctx.con, "adopt-secret", None, {"secret_key": str(ctx.settings.secret_path)}, ctx.now())
    return {"secret_adopted": str(ctx.settings.secret_path)}

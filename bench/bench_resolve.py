"""Benchmark: registry requests and resolution time for a big log, against a local RIPE-like registry.

    .venv/bin/python bench/bench_resolve.py --lines 1000000 --customers 3000 --registry relation
    .venv/bin/python bench/bench_resolve.py --lines 1000000 --customers 3000 --registry capped
    .venv/bin/python bench/bench_resolve.py --lines 1000000 --customers 3000 --registry plain --budget 100000

The registry (``tests/rdap_registry.py``, served from a threaded HTTP server
on 127.0.0.1) holds 20 ISPs' ``ALLOCATED PA`` /14s with dynamic pools and
business customers' ``ASSIGNED PA`` /29s inside (some behind a reseller's
``SUB-ALLOCATED PA``), and companies' ``ASSIGNED PI`` /24s. ``relation``
serves RFC 9910 relation searches; ``capped`` answers "Too Many Rows" above
50 results (so allocations are searched per /24 block); ``plain`` serves
none (per-address lookups). The log's visitors sit in pools, at customers, at
PI companies and in unassigned space. Runs ingest → resolve → load twice and
prints, per run: distinct addresses, networks holding visitors, networks
stored, requests (lookups + searches), addresses left waiting and the time of
each stage.
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.rdap_registry import Inetnum, RdapRegistry  # noqa: E402

ISPS = 20


def world(customers: int, seed: int = 11) -> tuple[list[Inetnum], list[str]]:
    """Registry objects, and the client addresses of the log (pools, customers, PI companies, unassigned)."""
    rng = random.Random(seed)
    objects: list[Inetnum] = []
    pools, customer_nets, pi_nets, unassigned = [], [], [], []
    per_isp = customers * 4 // 5 // ISPS
    for isp in range(ISPS):
        base = int(ipaddress.ip_address(f"{80 + isp // 4}.{(isp % 4) * 64}.0.0"))
        name = f"Operaattori {isp} Oyj"
        objects.append(_net(base, 1 << 18, f"FI-OPER{isp}", "ALLOCATED PA", name))
        for pool in range(2):  # two /18 pools of the first half
            start = base + pool * (1 << 16)
            objects.append(_net(start, 1 << 16, f"OPER{isp}-DSL-POOL-{pool}", "ASSIGNED PA", name,
                                ("Dynamic DSL pool",)))
            pools.append(start)
        reseller = base + (3 << 16)
        objects.append(_net(reseller, 1 << 12, f"RESELLER-{isp}", "SUB-ALLOCATED PA", f"Jalleenmyyja {isp} Oy"))
        for index in range(per_isp):  # customers: a /29 in their own /24 of the second half
            start = base + (2 << 16) + index * 256 if index % 5 else reseller + (index // 5) * 256
            objects.append(_net(start, 8, f"CUST-{isp}-{index}", "ASSIGNED PA", None,
                                (f"Asiakasyritys {isp}-{index} Oy",)))
            customer_nets.append(start)
        unassigned.append(base + (1 << 17) + (1 << 16) - 4096)
    for index in range(customers - per_isp * ISPS):
        start = int(ipaddress.ip_address(f"193.{64 + index // 256}.{index % 256}.0"))
        objects.append(_net(start, 256, f"PI-{index}-NET", "ASSIGNED PI", f"Omayritys {index} Oy"))
        pi_nets.append(start)
    clients = ([_ip(rng.choice(pools) + rng.randrange(1 << 16)) for _ in range(20000)]
               + [_ip(rng.choice(customer_nets) + rng.randrange(8)) for _ in range(14000)]
               + [_ip(rng.choice(pi_nets) + rng.randrange(256)) for _ in range(4000)]
               + [_ip(rng.choice(unassigned) + rng.randrange(4096)) for _ in range(2000)])
    return objects, clients


def _net(start: int, size: int, netname: str, status: str, org: str | None, descr: tuple[str, ...] = ()) -> Inetnum:
    return Inetnum(_ip(start), _ip(start + size - 1), netname, status, org,
                   f"ORG-{zlib.crc32(org.encode()) % 99999}-RIPE" if org else None, descr)


def _ip(number: int) -> str:
    return str(ipaddress.IPv4Address(number))


def generate(path: Path, lines: int, clients: list[str], seed: int = 11) -> None:
    rng = random.Random(seed)
    agent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
    start = 1_795_000_000
    with path.open("w") as out:
        for i in range(lines):
            stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(start + i * 86400 // lines))
            out.write(f'{rng.choice(clients)} - - [{stamp}] "GET /p/{i % 997} HTTP/1.1" 200 512 "-" "{agent}"\n')


def main() -> None:
    import logging

    import duckdb
    from werkzeug.serving import make_server
    from werkzeug.wrappers import Request

    from flows import engine
    from flows.config import load_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--registry", choices=["relation", "capped", "plain"], default="relation")
    parser.add_argument("--budget", type=int, default=2000, help="rdap_max_requests")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    objects, clients = world(args.customers)
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    log = out / f"resolve-{args.lines}-{args.customers}.log"
    if not log.exists():
        generate(log, args.lines, clients)
    registry = RdapRegistry(objects, relation_search=args.registry != "plain",
                            max_rows=50 if args.registry == "capped" else 10_000)
    server = make_server("127.0.0.1", 0, Request.application(registry), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    work = Path(tempfile.mkdtemp(prefix="bench-resolve-"))
    settings = load_settings(
        {"db": str(work / "bench.duckdb"), "logs": [str(log)], "rdap_url": f"http://127.0.0.1:{server.server_port}",
         "rdap_min_interval": 0, "config_dir": str(work / "cfg"), "rdap_max_requests": args.budget},
        None, {},
    )
    print(f"registry: {args.registry}, {len(objects):,} objects; budget {args.budget:,} requests")
    print(f"{'run':>4} {'addresses':>10} {'holding':>8} {'stored':>7} {'lookups':>8} {'searches':>9} "
          f"{'waiting':>8} {'ingest s':>9} {'resolve s':>10} {'load s':>7}")
    for run in (1, 2):
        timings: dict[str, float] = {}

        def timed(name, fn, ctx):
            began = time.perf_counter()
            try:
                return fn(ctx)
            finally:
                timings[name] = time.perf_counter() - began

        before = {kind: registry.count(kind) for kind in ("ip", "rdap-bottom")}
        stats = engine.execute(settings, "bench", ["ingest", "resolve", "load"], call=timed)
        with duckdb.connect(str(settings.db), read_only=True) as con:
            holding = con.execute("SELECT count(DISTINCT network_id) FROM visits").fetchall()[0][0]
            stored = con.execute("SELECT count(*) FROM networks").fetchall()[0][0]
        print(f"{run:>4} {stats.get('addresses', 0):>10,} {holding:>8,} {stored:>7,} "
              f"{registry.count('ip') - before['ip']:>8,} {registry.count('rdap-bottom') - before['rdap-bottom']:>9,} "
              f"{stats.get('addresses_pending', 0):>8,} {timings['ingest']:>9.2f} {timings['resolve']:>10.2f} "
              f"{timings['load']:>7.2f}", flush=True)
    server.shutdown()


if __name__ == "__main__":
    main()

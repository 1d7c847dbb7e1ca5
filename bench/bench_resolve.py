"""Benchmark: RDAP requests and resolution time for a big log, against a local RDAP server.

    .venv/bin/python bench/bench_resolve.py --lines 1000000 --networks 3000

Generates a log whose visitors come from ``--networks`` /24 networks (and a
few broad ISP allocations), serves RDAP for them from a threaded HTTP server on
127.0.0.1, runs ingest → resolve → load twice, and prints, per run: distinct
addresses, distinct networks touched, RDAP requests, and the time of each stage.
Target: requests = distinct networks touched on the first run; 0 on the rerun.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def network_of(address: str) -> tuple[str, str, str]:
    """The synthetic registry: 100.x → broad ISP /16 pools, everything else a company /24."""
    parsed = ipaddress.ip_address(address)
    if str(parsed).startswith("101."):
        block = ipaddress.ip_network(f"{address}/16", strict=False)
        return str(block[0]), str(block[-1]), "ISP-DSL-POOL"
    block = ipaddress.ip_network(f"{address}/24", strict=False)
    return str(block[0]), str(block[-1]), f"COMPANY-{int(block[0]) >> 8}-NET"


class Handler(BaseHTTPRequestHandler):
    requests = 0

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        Handler.requests += 1
        address = self.path.rsplit("/", 1)[1]
        start, end, name = network_of(address)
        body = json.dumps({
            "objectClassName": "ip network", "handle": f"{start} - {end}", "startAddress": start,
            "endAddress": end, "ipVersion": "v4", "name": name,
            "type": "ALLOCATED PA" if "POOL" in name else "ASSIGNED PA", "country": "FI",
            "entities": [{"objectClassName": "entity", "handle": f"ORG-{name}", "roles": ["registrant"],
                          "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", name.title()],
                                                   ["kind", {}, "text", "org"]]]}],
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/rdap+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def generate(path: Path, lines: int, networks: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    prefixes = [f"{rng.randint(1, 99)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}" for _ in range(networks)]
    clients = [f"{rng.choice(prefixes)}.{rng.randint(1, 254)}" for _ in range(40000)]
    clients += [f"101.{rng.randint(0, 9)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}" for _ in range(10000)]
    agent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
    start = 1_795_000_000
    with path.open("w") as out:
        for i in range(lines):
            stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(start + i * 86400 // lines))
            out.write(f'{rng.choice(clients)} - - [{stamp}] "GET /p/{i % 997} HTTP/1.1" 200 512 "-" "{agent}"\n')


def main() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from flows import stages
    from flows.config import load_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--networks", type=int, default=3000)
    args = parser.parse_args()
    out = Path(__file__).resolve().parent / "out"
    out.mkdir(exist_ok=True)
    log = out / f"resolve-{args.lines}-{args.networks}.log"
    if not log.exists():
        generate(log, args.lines, args.networks)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    work = Path(tempfile.mkdtemp(prefix="bench-resolve-"))
    settings = load_settings(
        {"db": str(work / "bench.duckdb"), "logs": [str(log)], "rdap_url": f"http://127.0.0.1:{server.server_port}",
         "rdap_min_interval": 0, "config_dir": str(work / "cfg")},
        None, {},
    )
    print(f"{'run':>4} {'addresses':>10} {'networks':>9} {'requests':>9} {'ingest s':>9} {'resolve s':>10} {'load s':>7}")
    for run in (1, 2):
        timings: dict[str, float] = {}

        def timed(name, fn, ctx):
            began = time.perf_counter()
            try:
                return fn(ctx)
            finally:
                timings[name] = time.perf_counter() - began

        before = Handler.requests
        stats = stages.execute(settings, "bench", ["ingest", "resolve", "load"], call=timed)
        import duckdb

        with duckdb.connect(str(settings.db), read_only=True) as con:
            touched = con.execute("SELECT count(DISTINCT network_id) FROM visits").fetchall()[0][0]
        print(f"{run:>4} {stats.get('addresses', 0):>10,} {touched:>9,} {Handler.requests - before:>9,} "
              f"{timings['ingest']:>9.2f} {timings['resolve']:>10.2f} {timings['load']:>7.2f}", flush=True)
    server.shutdown()


if __name__ == "__main__":
    main()

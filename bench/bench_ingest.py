"""Benchmark: the whole web-log ingest against DuckDB's bare read_csv of the same file.

    .venv/bin/python bench/bench_ingest.py --lines 1000000 [--lines 5000000 ...]

For each size it generates a synthetic combined log (cached in bench/out/),
then, each in a fresh child process so peak memory is its own:
  1. reference: DuckDB ``read_csv`` of the file into a table, one VARCHAR column
     per line (no parsing at all);
  2. leadpipe: parse, dedup against the line ledger, bots, client addresses,
     keyed hashes, pageviews, sessions, into a new database file.
It prints lines/s, peak RSS and the ratio of the two times.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"


def generate(path: Path, lines: int, seed: int = 7) -> None:
    """A day-ish of a busy site: 60k visitors, 3k agents, bots, assets, errors."""
    rng = random.Random(seed)
    clients = [f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}" for _ in range(60000)]
    agents = [
        f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{100 + i % 40}.0.{i}.0 Safari/537.36"
        for i in range(3000)
    ] + ["Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "curl/8.5.0"] * 50
    paths = [f"/products/{i}" for i in range(2000)] + ["/", "/pricing", "/contact"] * 100
    assets = ["/static/app.js", "/static/app.css", "/img/logo.png", "/favicon.ico"]
    referrers = ["-", "https://www.google.com/", "https://www.linkedin.com/feed/"]
    start = 1_795_000_000  # seconds
    with path.open("w") as out:
        batch = []
        for i in range(lines):
            t = time.gmtime(start + i * 86400 // lines)
            stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0200", t)
            visitor = rng.randrange(len(clients))
            agent = agents[-1 - visitor % 100] if visitor % 20 == 0 else agents[visitor % 3000]  # 5% bots
            target = rng.choice(assets) if rng.random() < 0.4 else rng.choice(paths)
            status = 200 if rng.random() < 0.93 else rng.choice((301, 304, 404, 500))
            batch.append(
                f'{clients[visitor]} - - [{stamp}] "GET {target} HTTP/1.1" {status} {rng.randint(100, 99999)} '
                f'"{rng.choice(referrers)}" "{agent}"\n'
            )
            if len(batch) == 100000:
                out.writelines(batch)
                batch.clear()
        out.writelines(batch)


def child_reference(path: str) -> dict:
    import duckdb

    con = duckdb.connect()
    started = time.perf_counter()
    con.execute(
        "CREATE TABLE raw AS SELECT * FROM read_csv(?, columns = {'line': 'VARCHAR'}, delim = ?, quote = '', "
        "escape = '', header = false, auto_detect = false)",
        [path, "\x01"],
    )
    rows = con.execute("SELECT count(*) FROM raw").fetchall()[0][0]
    return {"seconds": time.perf_counter() - started, "rows": rows}


def child_leadpipe(path: str, db: str) -> dict:
    from enrich import bots
    from enrich.weblogs import expand_sources
    from flows.config import DEFAULT_DATA_DIR
    from sinks import database, runs
    from sinks.pageviews import IngestOptions, ingest_logs
    from sinks.visits import sessionize

    Path(db).unlink(missing_ok=True)
    con = database.connect(db, memory_limit="700MB")
    options = IngestOptions(secret=b"bench" * 8, bot_patterns=bots.bot_patterns(DEFAULT_DATA_DIR / "bots-extra.txt"))
    started = time.perf_counter()
    run_id = runs.start_run(con, "bench")
    files = [(s, Path(s.location)) for s in expand_sources([path])]
    stats = ingest_logs(con, files, options, run_id)
    ingest_done = time.perf_counter()
    stats.update(sessionize(con))
    con.execute("CHECKPOINT")
    finished = time.perf_counter()
    con.close()
    return {"seconds": finished - started, "ingest_seconds": ingest_done - started,
            "rows": stats["lines_read"], "pageviews": stats["pageviews"], "visits": stats["visits"]}


def measure(kind: str, *args: str) -> dict:
    """Run one measurement in a fresh interpreter; add its peak RSS."""
    code = (
        "import json, resource, sys; sys.path.insert(0, %r); import bench_ingest as b; "
        "r = b.child_%s(*sys.argv[1:]); r['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; "
        "print(json.dumps(r))" % (str(HERE), kind)
    )
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description="leadpipe ingest benchmark")
    parser.add_argument("--lines", type=int, action="append", help="log size; repeatable (default 1,000,000)")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    print(f"{'lines':>11} {'read_csv s':>10} {'leadpipe s':>10} {'ingest s':>8} {'load s':>6} {'ratio':>6} "
          f"{'lines/s':>10} {'peak MB (ref)':>13} {'peak MB':>8}")
    for lines in args.lines or [1_000_000]:
        log = OUT / f"access-{lines}.log"
        if not log.exists():
            generate(log, lines)
        reference = measure("reference", str(log))
        ours = measure("leadpipe", str(log), str(OUT / f"bench-{lines}.duckdb"))
        assert reference["rows"] == ours["rows"] == lines, (reference, ours)
        print(
            f"{lines:>11,} {reference['seconds']:>10.2f} {ours['seconds']:>10.2f} {ours['ingest_seconds']:>8.2f} "
            f"{ours['seconds'] - ours['ingest_seconds']:>6.2f} "
            f"{ours['seconds'] / reference['seconds']:>6.2f} {lines / ours['seconds']:>10,.0f} "
            f"{reference['peak_rss_mb']:>13,.0f} {ours['peak_rss_mb']:>8,.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()

"""Benchmark: one new night (and its rerun) on databases with 0, 1 and 13 months of history.

    .venv/bin/python bench/bench_nightly.py --lines-per-day 100000 --months 0 --months 1 --months 13

For each history length it builds (once, cached in ``bench/out/``) a database
holding that many months of a mid-size site's logs — generated visitors who
come back over the months, ingested and sessionized a week at a time
(``--chunk-days``) through the real stages — then, on a copy, times the nightly stages
(ingest → resolve → load → retention → report, ``--offline``, with an
operator network list) for one new night, and then for the same night again.
Each run is a fresh child process, so its figures are its own: wall time per
stage, peak RSS, bytes written (``/proc/self/io``) and the file's size.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
NIGHT = date(2026, 11, 24)
AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0 Safari/537.36"
PATHS = [f"/products/{i}" for i in range(500)] + ["/", "/pricing", "/contact", "/demo", "/blog/x"] * 40
#: The generated data's version, part of the cached files' names: a change to the generator never reuses old ones.
DATA = "v2"


def write_days(path: Path, days: list[date], lines_per_day: int, seed: int) -> None:
    """Logs of ``days``: 40,000 visitors who come back (a fifth of them companies' offices), assets, bots.

    The visitors are the same in every file (their own seed); ``seed`` draws the traffic. Half the
    lines come from a few frequent visitors, in office hours (06–18 UTC): browsing around the
    clock, every visitor would be one visit that never ends.
    """
    population = random.Random(40000)
    rng = random.Random(seed)
    visitors = [(f"{population.choice([85, 91, 185, 193])}.{population.randint(0, 255)}.{population.randint(0, 255)}"
                 f".{population.randint(1, 254)}", AGENT.format(v=100 + i % 40)) for i in range(40000)]
    with path.open("w") as out:
        for day in days:
            start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()
            batch = []
            for i in range(lines_per_day):
                office_hours = lines_per_day // 4 <= i < lines_per_day * 3 // 4
                client, agent = visitors[min(int(rng.paretovariate(1.2)) * 7 + rng.randrange(7), len(visitors) - 1)
                                         if office_hours and rng.random() < 0.5 else rng.randrange(len(visitors))]
                stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(start + i * 86400 // lines_per_day))
                target = "/static/app.js" if rng.random() < 0.3 else rng.choice(PATHS)
                if rng.random() < 0.05:
                    agent = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
                batch.append(f'{client} - - [{stamp}] "GET {target} HTTP/1.1" 200 512 "-" "{agent}"\n')
            out.writelines(batch)


def networks_file() -> Path:
    """The operator's list: the office blocks (185.x and 193.x /16s) are companies, the rest ISP pools."""
    path = OUT / "nightly-networks.csv"
    rows = ["cidr,organisation,kind"] + [f"{a}.{b}.0.0/16,Yritys {a}-{b} Oy,company" for a in (185, 193)
                                          for b in range(256)] + [f"{a}.0.0.0/8,Operaattori {a} Oyj,isp" for a in (85, 91)]
    path.write_text("\n".join(rows) + "\n")
    return path


def child(db: str, logs: str, config: str, report_dir: str, stage_names: list[str]) -> dict:
    sys.path.insert(0, str(ROOT))
    from flows import engine
    from flows.config import load_settings

    settings = load_settings({"db": db, "logs": [logs], "offline": True, "report_dir": report_dir,
                              "until": NIGHT.isoformat(), "config_dir": config}, None, {})
    timings: dict[str, float] = {}

    def timed(name, fn, ctx):
        began = time.perf_counter()
        try:
            return fn(ctx)
        finally:
            timings[name] = round(time.perf_counter() - began, 2)

    began = time.perf_counter()
    stats = engine.execute(settings, "bench", stage_names, call=timed)
    total = time.perf_counter() - began
    io = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return {"seconds": round(total, 2), "stages": timings, "written_mb": int(io["write_bytes"]) >> 20,
            "peak_rss_mb": int(status["VmHWM"].split()[0]) >> 10, "file_mb": Path(db).stat().st_size >> 20,
            "pageviews": stats.get("pageviews", 0), "visits_touched": stats.get("visits_touched", 0),
            "stats": {k: v for k, v in stats.items() if isinstance(v, (int, float))}}


def run_child(*args) -> dict:
    script = f"import json, sys; sys.path.insert(0, {str(ROOT / 'bench')!r}); import bench_nightly as b; " \
             f"print(json.dumps(b.child(*{list(args)!r})))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=7200)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def history(months: int, lines_per_day: int, chunk_days: int = 7) -> Path:
    """A database with ``months`` of history before NIGHT (built once, then reused).

    Each ``chunk_days`` of logs is one run (ingest, resolve, load), as nights are: a month in
    one run stages and sessionizes ~3 M lines at once, beyond the 700 MB memory limit. The
    database is built under a temporary name, so a failed build is never taken for a finished one.
    """
    db = OUT / f"nightly-{DATA}-{months}m-{lines_per_day}.duckdb"
    config = OUT / "nightly-config"
    if db.exists() or months == 0:
        return db
    building = db.with_name(db.name + ".partial")
    building.unlink(missing_ok=True)
    began = time.perf_counter()
    sys.path.insert(0, str(ROOT))
    from flows import commands, engine
    from flows.config import load_settings

    settings = load_settings({"db": str(building), "offline": True, "config_dir": str(config)}, None, {})
    engine.execute(settings, "networks import", [commands.import_network_list(networks_file(), "operator")])
    first = NIGHT - timedelta(days=30 * months)
    every_day = [first + timedelta(days=d) for d in range(30 * months)]
    logs = OUT / f"nightly-chunk-{lines_per_day}.log"
    for number, start in enumerate(range(0, len(every_day), chunk_days)):
        days = every_day[start:start + chunk_days]
        write_days(logs, days, lines_per_day, seed=number)
        r = run_child(str(building), str(logs), str(config), str(OUT / "nightly-reports"), ["ingest", "resolve", "load"])
        print(f"  building {months} months: {days[0]}..{days[-1]} in {r['seconds']} s "
              f"(load {r['stages']['load']} s, peak {r['peak_rss_mb']} MB, {r['file_mb']} MB)", flush=True)
    logs.unlink()
    building.replace(db)
    print(f"  built {months} months of {lines_per_day:,} lines a day in {time.perf_counter() - began:.0f} s", flush=True)
    return db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines-per-day", type=int, default=100_000)
    parser.add_argument("--months", type=int, action="append", help="history lengths (default 0, 1, 13)")
    parser.add_argument("--chunk-days", type=int, default=7, help="days of logs per run while building a history")
    parser.add_argument("--out", type=Path, default=OUT,
                        help="folder for the cached histories and the runs (e.g. on a reflink filesystem)")
    args = parser.parse_args()
    globals()["OUT"] = args.out
    OUT.mkdir(exist_ok=True)
    night = OUT / f"nightly-{DATA}-night-{args.lines_per_day}.log"
    if not night.exists():
        write_days(night, [NIGHT], args.lines_per_day, seed=999)
    print(f"{'history':>8} {'run':>6} {'total s':>8} {'ingest':>7} {'resolve':>8} {'load':>6} {'retention':>9} "
          f"{'report':>7} {'copy+publish':>12} {'peak MB':>8} {'written MB':>11} {'file MB':>8} {'visits touched':>14}")
    for months in args.months or [0, 1, 13]:
        base = history(months, args.lines_per_day, args.chunk_days)
        work = OUT / "nightly-work"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        db = work / "leads.duckdb"
        if base.exists():
            sys.path.insert(0, str(ROOT))
            from sinks.database import clone_file

            clone_file(base, db)  # a reflink where the filesystem has them: the setup is not timed
        shutil.copytree(OUT / "nightly-config", work / "cfg", dirs_exist_ok=True) if (OUT / "nightly-config").exists() \
            else None
        if not base.exists():  # the empty database still has the operator's list
            sys.path.insert(0, str(ROOT))
            from flows import commands, engine
            from flows.config import load_settings

            settings = load_settings({"db": str(db), "offline": True, "config_dir": str(work / "cfg")}, None, {})
            engine.execute(settings, "networks import", [commands.import_network_list(networks_file(), "operator")])
        for label in ("night", "rerun"):
            r = run_child(str(db), str(night), str(work / "cfg"), str(work / "reports"),
                          ["ingest", "resolve", "load", "retention", "report"])
            s = r["stages"]
            print(f"{months:>7}m {label:>6} {r['seconds']:>8} {s['ingest']:>7} {s['resolve']:>8} {s['load']:>6} "
                  f"{s['retention']:>9} {s['report']:>7} {round(r['seconds'] - sum(s.values()), 2):>12} {r['peak_rss_mb']:>8} {r['written_mb']:>11} "
                  f"{r['file_mb']:>8} {r['visits_touched']:>14}", flush=True)


if __name__ == "__main__":
    main()

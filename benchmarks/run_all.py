"""Run every ``benchmarks/*.py`` (each prints one JSON object) and collect the results.

    python benchmarks/run_all.py [--quick] [--only NAME ...]

Writes ``benchmarks/out/results.json`` (a temporary name renamed into place) and
prints it.  A benchmark that fails is reported with its exit status and the end of
its stderr; the others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def benchmark_files(only: list[str] | None) -> list[Path]:
    files = sorted(p for p in HERE.glob("*.py")
                   if p.name != Path(__file__).name and not p.name.startswith("_"))
    return [p for p in files if not only or p.stem in only]


def run_one(path: Path, quick: bool) -> dict:
    env = {**os.environ, **({"APPION_BENCH_QUICK": "1"} if quick else {})}
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          env=env)
    record = {"seconds": round(time.monotonic() - started, 1), "exit_status": done.returncode}
    if done.returncode == 0:
        try:
            record["result"] = json.loads(done.stdout)
        except json.JSONDecodeError:
            record["error"] = "did not print JSON: " + done.stdout[-500:]
    else:
        record["error"] = done.stderr[-2000:]
    return record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes: sets APPION_BENCH_QUICK=1 for each benchmark")
    parser.add_argument("--only", nargs="*", metavar="NAME", help="benchmark names")
    args = parser.parse_args()
    results = {}
    for path in benchmark_files(args.only):
        print(f"running {path.name} ...", file=sys.stderr, flush=True)
        results[path.stem] = run_one(path, args.quick)
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    temporary = out / f".results.json.{os.getpid()}"
    temporary.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    os.replace(temporary, out / "results.json")
    print(json.dumps(results, indent=1))
    return 0 if all(r["exit_status"] == 0 for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

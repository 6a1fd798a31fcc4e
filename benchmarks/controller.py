"""Controller benchmarks with the no-op step; prints one JSON object.

* ``throughput``: N simulated exposures (rows only, inserted in bulk) through the
  controller on a local cluster: exposures per second from the first submission to
  the last stored row (cluster start-up excluded);
* ``discovery latency``: exposures inserted one by one while the controller runs
  (default ``--poll-interval``); time from a row's insertion to its submission, p50/p95;
* ``poll cost``: one poll of a 50,000-image session on MariaDB, with nothing new and
  with one new image (median and p95 of repeated polls);
* ``speed-up``: the same sleeping task on 1 and 2 workers.

    python benchmarks/controller.py [--images 10000] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, for tests/
from tests.plugin_path import use_test_plugins  # noqa: E402

use_test_plugins()

from appion_test_steps.noop import NoopStep  # noqa: E402
from appion_test_steps.rows import RowsSession, start_rows_session  # noqa: E402

import sinedon  # noqa: E402
from appion.base.loop import run_pipeline  # noqa: E402
from appion.base.loop.controller import Events  # noqa: E402
from appion.base.loop.feed import ImageFeed  # noqa: E402
from appion.base.run import prepare_run  # noqa: E402
from appion.cli.classic_options import image_selection, run_inputs  # noqa: E402
from appion.cli.pipeline import parse_pipeline_options  # noqa: E402
from appion.cli.runtime_options import runtime_settings  # noqa: E402
from sinedon import schema  # noqa: E402


def _options(args: list[str]) -> argparse.Namespace:
    return parse_pipeline_options(args, prog="benchmark")


def _init_databases(config) -> None:
    schema.init_all(1, project_name="benchmark",
                    appion_db=config.databases[sinedon.APPION].name, config=config)


def _run(session: RowsSession, root: Path, runname: str, step: NoopStep, flags: list[str],
         events: Events) -> None:
    options = _options(["--projectid", "1", "--session", session.name, "--preset", "enn",
                        "--runname", runname, "--rundir", str(root / "runs" / runname),
                        "--display", "log", *flags])
    request, selection = run_inputs(options)
    run = prepare_run(request, selection, step_names=[step.name], program="benchmark")
    run_pipeline([step], run, settings=runtime_settings(options), events=events)


def throughput(root: Path, images: int) -> dict:
    session = start_rows_session(root, "bench-throughput")
    session.bulk_add(images)
    submitted, stored = [], []
    events = Events(on_submit=lambda stage, image, when: submitted.append(when),
                    on_store=lambda stage, image, when: stored.append(when))
    _run(session, root, "throughput", NoopStep(), ["--no-wait", "--max-workers", "2",
                                                   "--batch-size", "400"], events)
    elapsed = max(stored) - min(submitted)
    return {"images": images, "stored": len(stored), "seconds": round(elapsed, 2),
            "exposures_per_s": round(len(stored) / elapsed, 1), "target_per_s": 200}


def discovery_latency(root: Path, images: int, every_s: float) -> dict:
    session = start_rows_session(root, "bench-latency")
    inserted: dict[int, float] = {}
    submitted: dict[int, float] = {}
    events = Events(on_submit=lambda stage, image, when: submitted.setdefault(image, when))

    def microscope():
        time.sleep(3.0)  # let the controller start
        for _ in range(images):
            image_id = session.add_images(1)[0]
            inserted[image_id] = time.monotonic()
            time.sleep(every_s)
        sinedon.close_all()

    thread = threading.Thread(target=microscope, daemon=True)
    thread.start()
    _run(session, root, "latency", NoopStep(), ["--max-workers", "1",
                                                "--give-up-minutes", "0.15"], events)
    thread.join()
    latencies = sorted(submitted[i] - inserted[i] for i in inserted if i in submitted)
    return {"images": images, "every_s": every_s, "poll_interval_s": 1.0,
            "p50_s": round(statistics.median(latencies), 3),
            "p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
            "max_s": round(latencies[-1], 3), "target_p95_s": 2.0}


def speedup(root: Path, images: int, sleep_s: float) -> dict:
    seconds = {}
    for workers in (1, 2):
        session = start_rows_session(root, f"bench-speedup-{workers}")
        session.bulk_add(images)
        submitted, stored = [], []
        events = Events(on_submit=lambda stage, image, when: submitted.append(when),
                        on_store=lambda stage, image, when: stored.append(when))
        _run(session, root, f"speedup{workers}", NoopStep(sleep_s=sleep_s),
             ["--no-wait", "--max-workers", str(workers)], events)
        seconds[workers] = max(stored) - min(submitted)
    return {"images": images, "task_s": sleep_s, "one_worker_s": round(seconds[1], 2),
            "two_workers_s": round(seconds[2], 2),
            "speedup": round(seconds[1] / seconds[2], 2)}


def poll_cost_mariadb(root: Path, images: int, repeats: int) -> dict:
    try:
        import pymysql
        server = {"host": os.environ.get("APPION_TEST_MYSQL_HOST", "127.0.0.1"),
                  "port": int(os.environ.get("APPION_TEST_MYSQL_PORT", "3306")),
                  "user": os.environ.get("APPION_TEST_MYSQL_USER", "root"),
                  "password": os.environ.get("APPION_TEST_MYSQL_PASSWORD", "")}
        pymysql.connect(connect_timeout=3, **server).close()
    except Exception as error:
        return {"skipped": f"no MariaDB: {error}"}
    prefix = f"appionbench_{uuid.uuid4().hex[:6]}"
    names = {"leginondata": f"{prefix}_leginon", "projectdata": f"{prefix}_project",
             "appiondata": f"{prefix}_ap1"}
    cfg = root / "sinedon.cfg"
    cfg.write_text("[global]\n" + "".join(f"{k}: {v}\n" for k, v in (
        ("host", server["host"]), ("port", server["port"]), ("user", server["user"]),
        ("passwd", server["password"]))) + "".join(
        f"\n[{alias}]\ndb: {name}\n" for alias, name in names.items()))
    try:
        _init_databases(sinedon.read_config_file(cfg))
        session = start_rows_session(root, "bench-poll")
        session.bulk_add(images)
        options = _options(["--projectid", "1", "--session", session.name,
                            "--preset", "enn"])
        feed = ImageFeed(image_selection(options), session.id)
        started = time.perf_counter()
        first = len(feed.poll())
        first_s = time.perf_counter() - started
        idle, one_new = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            feed.poll()
            idle.append(time.perf_counter() - started)
        for _ in range(repeats):
            session.add_images(1)
            started = time.perf_counter()
            found = feed.poll()
            one_new.append(time.perf_counter() - started)
            assert len(found) == 1
        return {"session_images": images, "first_poll_found": first,
                "first_poll_ms": round(first_s * 1000, 1),
                "idle_poll_ms_median": round(statistics.median(idle) * 1000, 2),
                "idle_poll_ms_p95": round(sorted(idle)[int(0.95 * (repeats - 1))] * 1000, 2),
                "one_new_poll_ms_median": round(statistics.median(one_new) * 1000, 2),
                "one_new_poll_ms_p95": round(sorted(one_new)[int(0.95 * (repeats - 1))]
                                             * 1000, 2),
                "target_ms": 50}
    finally:
        sinedon.close_all()
        connection = pymysql.connect(**server)
        with connection.cursor() as cursor:
            for name in names.values():
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args()
    quick = args.quick or os.environ.get("APPION_BENCH_QUICK") == "1"
    results = {"benchmark": "controller", "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="appion-bench-") as folder:
        root = Path(folder)
        os.environ["APPION_HOME"] = str(root / "home")
        os.environ.pop("SINEDON_CFG_PATH", None)
        _init_databases(sinedon.embedded_config(root / "home"))
        results["backend_for_runs"] = "sqlite (embedded default)"
        results["throughput"] = throughput(root, 500 if quick else args.images)
        results["discovery_latency"] = discovery_latency(root, 20 if quick else 100, 0.1)
        results["speedup_1_to_2_workers"] = speedup(root, 20 if quick else 60, 0.2)
        results["poll_cost_mariadb"] = poll_cost_mariadb(root, 5_000 if quick else 50_000,
                                                         10 if quick else 50)
    json.dump(results, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()

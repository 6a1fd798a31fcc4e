"""Dashboard: page load and API times of ``appion serve`` for sessions of 1,000 and
20,000 processed exposures (target: a 20,000-exposure session's page loads in under a
second and its plots stay interactive).

Prints one JSON object.  Usage::

    python benchmarks/dashboard.py [--exposures 1000 20000] [--mariadb]
        [--repeats 10] [--browser auto|yes|no] [--page-loads 3]

For each size, in a throwaway database set (embedded SQLite in a temporary
``APPION_HOME`` by default; with ``--mariadb`` databases on the test server,
``APPION_TEST_MYSQL_*``, always dropped at the end), :mod:`dashboard_data` writes a
session of N exposures already processed by motioncor and ctf, as ``appion serve``
stores them (``fabricate_seconds``, and ``validation``: each step's summaries read
back in this process).  Then ``appion serve`` starts (motioncor and ctf with the
built-in engines, one Dask worker) and resumes the session: nothing is processed.

Per size (``sizes.<N>``):

* ``load``: seconds from starting ``appion serve`` to ``healthz_s`` (the HTTP server
  answers), ``listed_s`` (``/api/sessions`` lists the session with every exposure done
  by both steps: the controller resumed and the snapshot published) and ``loaded_s``
  (``/series`` has a drift and a CTF resolution for every exposure: the records
  refreshed; what the plots need);
* ``serve_rss_mb``: resident memory of the ``appion serve`` process (its Dask worker
  not included, ``worker_rss_mb``) once loaded, and ``..._after_requests`` after the
  measurements below;
* ``api`` and ``pages``: per request, ``ms`` (median, p95, max over ``--repeats``
  requests, one at a time, each on a new connection, ``Accept-Encoding: gzip`` as a
  browser sends), ``bytes`` (on the wire) and ``body_bytes`` (decoded), ``status``;
  requests: ``GET /api/sessions``, ``/api/sessions/<name>/series``, ``/history``,
  ``/exposures?page=1&per_page=50`` (newest first, and ``sort=resolution_a``),
  ``/exposures/<id>`` (the newest exposure); pages ``/``, ``/sessions/<name>``,
  ``/sessions/<name>/exposures/<id>`` ("not available" when the server has no such
  page) and the static ``/static/plotly.min.js``.  A request that takes more than
  5 s is repeated only twice more;
* ``browser`` (headless Debian Chromium through Playwright, when both are installed;
  ``--page-loads`` loads of ``/sessions/<name>``, each in a fresh context: cold
  cache): ``dom_content_loaded_ms`` and ``plots_drawn_ms`` (navigation start to the
  page's ``data-plots-drawn`` mark: every plot drawn from ``/series``), both median
  and max; ``plots_shown_ms`` (to ``data-plots-shown``: the plots in the first screen
  drawn, when the page draws those first); ``plotly_loaded_ms`` (``plotly.min.js``
  loaded and run) and
  ``series_received_ms`` (the ``/series`` answer received), on the same clock, and
  ``series_requests`` (how many were made: 1 when a preload was used);
  ``long_tasks``: the main thread's tasks over 50 ms until the plots were
  drawn (count, longest, total blocking time: the sum of each one's time over 50 ms);
  ``zoom_ms``: ``Plotly.relayout`` of the defocus plot (three traces of N points)
  zooming into the middle half of the time axis and back, to the next frame
  (median, p95 of 10); ``zoom_detail_ms``: the same to the frame after the page redrew
  the points of the new range (its ``data-detail`` mark; when the page draws a thinned
  overview and the zoomed range in detail); ``webgl`` and ``trace_type``: whether the
  plots use WebGL; ``page_errors``: the page's uncaught errors, if any.

``target_met`` (per size): the session page's HTML and ``/series`` each answer in
under a second (median), and, when the browser ran, the plots are drawn within a
second of navigation (median).  Subprocesses, temporary folders and databases are
removed on any exit (an error, Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # modules beside this file
import dashboard_data  # noqa: E402
import facility  # noqa: E402
import facility_db  # noqa: E402

BIN = Path(sys.executable).parent
SLOW_MS = 5000.0
REQUEST_TIMEOUT_S = 180.0


# ---------------------------------------------------------------------- requests


def fetch(url: str) -> dict[str, Any]:
    """One GET as a browser makes it: time, status, bytes on the wire and decoded."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
            raw, status = response.read(), response.status
            encoding = response.headers.get("Content-Encoding", "")
    except urllib.error.HTTPError as error:
        raw, status, encoding = error.read(), error.code, error.headers.get(
            "Content-Encoding", "")
    except OSError as error:
        return {"ms": (time.perf_counter() - started) * 1000, "status": 0, "bytes": 0,
                "body": b"", "error": str(error)}
    elapsed = (time.perf_counter() - started) * 1000
    body = gzip.decompress(raw) if encoding == "gzip" else raw
    return {"ms": elapsed, "status": status, "bytes": len(raw), "body": body}


def measure(url: str, repeats: int) -> dict[str, Any]:
    """``repeats`` requests one after another (fewer when one takes over 5 s)."""
    answers = [fetch(url)]
    count = repeats if answers[0]["ms"] < SLOW_MS else min(repeats, 3)
    answers += [fetch(url) for _ in range(count - 1)]
    last = answers[-1]
    report: dict[str, Any] = {"ms": facility.spread([a["ms"] for a in answers], 1),
                              "status": last["status"], "bytes": last["bytes"],
                              "body_bytes": len(last["body"])}
    errors = sorted({a.get("error") or f"HTTP {a['status']}" for a in answers
                     if a["status"] != 200})
    if errors:
        report["errors"] = errors
    return report


def get_json(url: str) -> Any:
    answer = fetch(url)
    if answer["status"] != 200:
        return None
    try:
        return json.loads(answer["body"])
    except ValueError:
        return None


# ------------------------------------------------------------------- the service


def serve_command(root: Path, port: int) -> list[str]:
    return [str(BIN / "appion"), "serve", "--config", str(root / "facility.toml"),
            "--listen", f"127.0.0.1:{port}", "--state-dir", str(root / "state"),
            *dashboard_data.SERVE_FLAGS]


def serve_environment(config, root: Path) -> dict[str, str]:
    """The databases of ``config`` for a subprocess (and for this process's run set-up,
    which reads the configuration from the environment as ``appion serve`` does)."""
    import sinedon
    env = {key: value for key, value in os.environ.items() if key != "SINEDON_CFG_PATH"}
    home = root / "home"
    home.mkdir(exist_ok=True)
    if config.embedded:
        home = Path(config.databases[sinedon.LEGINON].sqlite_dir)
    else:
        env["SINEDON_CFG_PATH"] = config.source
    env.update(APPION_HOME=str(home), HOME=str(home), PYTHONUNBUFFERED="1")
    return env


def wait_loaded(api: str, name: str, exposures: int, serve: facility.Child,
                started: float, timeout: float) -> dict[str, float]:
    """Seconds from ``started`` to: the HTTP server answering, the session listed with
    every exposure done, every exposure's values in ``/series``."""
    times: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if serve.process.poll() is not None:
            raise RuntimeError(f"appion serve exited with {serve.process.returncode}")
        if "healthz_s" not in times:
            if get_json(api + "/healthz"):
                times["healthz_s"] = time.time() - started
        elif "listed_s" not in times:
            sessions = get_json(api + "/api/sessions") or []
            if any(s["name"] == name and s["collected"] == exposures
                   and len(s["steps"]) == 2
                   and all(step["done"] == exposures for step in s["steps"].values())
                   for s in sessions):
                times["listed_s"] = time.time() - started
        else:
            series = get_json(f"{api}/api/sessions/{name}/series")
            if series and _complete(series, exposures):
                times["loaded_s"] = time.time() - started
                return {key: round(value, 2) for key, value in times.items()}
            time.sleep(0.4)
        time.sleep(0.1)
    raise RuntimeError(f"the session was not loaded within {timeout:.0f} s: {times}")


def _complete(series: dict[str, Any], exposures: int) -> bool:
    columns = series["columns"]
    drift, resolution = columns.index("drift_total_a"), columns.index("resolution_a")
    rows = series["rows"]
    return len(rows) == exposures and all(
        row[drift] is not None and row[resolution] is not None for row in rows)


def log_times(path: Path, name: str, started: float) -> dict[str, float]:
    """Seconds from ``started`` to the serve log's lines saying the session was found
    (``found_s``) and its controller started (``controller_started_s``: the steps'
    done ids read back); log lines start with their local time."""
    import datetime
    marks = {"found_s": f"found session {name} ",
             "controller_started_s": f"session {name}: processing "}
    found: dict[str, float] = {}
    for line in path.read_text(errors="replace").splitlines():
        for key, text in marks.items():
            if key not in found and text in line:
                try:
                    when = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
                except ValueError:
                    continue
                found[key] = round(when.timestamp() - started, 2)
    return found


def rss_mb(pid: int) -> dict[str, float]:
    import psutil
    process = psutil.Process(pid)
    workers = sum(child.memory_info().rss for child in process.children(recursive=True))
    return {"serve": round(process.memory_info().rss / 2**20, 1),
            "workers": round(workers / 2**20, 1)}


def api_requests(api: str, name: str, exposure: int, repeats: int) -> dict[str, Any]:
    base = f"{api}/api/sessions/{name}"
    urls = {"sessions": f"{api}/api/sessions",
            "series": f"{base}/series",
            "history": f"{base}/history",
            "exposures_page": f"{base}/exposures?page=1&per_page=50",
            "exposures_page_by_resolution":
                f"{base}/exposures?page=1&per_page=50&sort=resolution_a&order=asc",
            "exposure": f"{base}/exposures/{exposure}"}
    return {key: measure(url, repeats) for key, url in urls.items()}


def page_requests(api: str, name: str, exposure: int, repeats: int) -> dict[str, Any]:
    urls = {"facility": f"{api}/", "session": f"{api}/sessions/{name}",
            "exposure": f"{api}/sessions/{name}/exposures/{exposure}",
            "plotly_js": f"{api}/static/plotly.min.js"}
    pages: dict[str, Any] = {}
    for key, url in urls.items():
        if fetch(url)["status"] == 404:
            pages[key] = "not available"
        else:
            pages[key] = measure(url, repeats if key != "plotly_js" else 3)
    return pages


# ----------------------------------------------------------------------- browser


INIT_SCRIPT = """
window.__bench = { longtasks: [], drawnAt: null, shownAt: null, plotlyAt: null };
document.addEventListener("load", (event) => {
  if (event.target && event.target.id === "plotly") window.__bench.plotlyAt = performance.now();
}, true);
try {
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      window.__bench.longtasks.push([entry.startTime, entry.duration]);
    }
  }).observe({ type: "longtask", buffered: true });
} catch (error) { window.__bench.noLongtasks = String(error); }
new MutationObserver(() => {
  const body = document.body;
  if (window.__bench.shownAt === null && body && body.dataset.plotsShown === "yes") {
    window.__bench.shownAt = performance.now();
  }
  if (window.__bench.drawnAt === null && body && body.dataset.plotsDrawn === "yes") {
    window.__bench.drawnAt = performance.now();
  }
}).observe(document, { attributes: true, subtree: true,
                       attributeFilter: ["data-plots-drawn", "data-plots-shown"] });
"""

ZOOM_SCRIPT = """
async () => {
  const node = document.getElementById("plot-defocus");
  const axis = node._fullLayout.xaxis;
  const [a, b] = axis.range.map((value) => axis.r2l(value));
  const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));
  // detail: until the page redrew the zoomed range's points (data-detail changes), when
  // it does (none within 5 s: the page has no such step)
  const detail = async () => {
    const before = node.dataset.detail;
    if (before === undefined && !node.appionSeries) return null;
    const started = performance.now();
    while (node.dataset.detail === before) {
      if (performance.now() - started > 5000) return null;
      await frame();
    }
    await frame();
    return performance.now();
  };
  const times = [], details = [];
  for (let i = 0; i < 5; i++) {
    for (const change of [
        { "xaxis.range": [axis.l2r(a + (b - a) / 4), axis.l2r(b - (b - a) / 4)] },
        { "xaxis.autorange": true }]) {
      const started = performance.now();
      const redrawn = detail();
      await Plotly.relayout(node, change);
      await frame();
      times.push(performance.now() - started);
      const done = await redrawn;
      if (done !== null) details.push(done - started);
    }
  }
  return { times, details };
}
"""


def browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    if not shutil.which("chromium"):
        return "no chromium on PATH"
    return None


def browser_measure(api: str, name: str, loads: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright
    url = f"{api}/sessions/{name}"
    dcl, drawn, longest, blocking, counts = [], [], [], [], []
    plotly, series, shown = [], [], []
    errors: list[str] = []
    report: dict[str, Any] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"),
                                             args=["--enable-unsafe-swiftshader"])
        try:
            for load in range(loads):
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                try:
                    page = context.new_page()
                    page.on("pageerror", lambda error: errors.append(str(error)))
                    page.add_init_script(INIT_SCRIPT)
                    page.goto(url, wait_until="domcontentloaded", timeout=120_000)
                    page.wait_for_function("window.__bench.drawnAt !== null",
                                           timeout=300_000, polling=50)
                    numbers = page.evaluate("""() => ({
                        dcl: performance.getEntriesByType("navigation")[0].domContentLoadedEventEnd,
                        drawn: window.__bench.drawnAt,
                        shown: window.__bench.shownAt,
                        tasks: window.__bench.longtasks.filter(
                            ([start]) => start <= window.__bench.drawnAt),
                        plotly: window.__bench.plotlyAt,
                        series: performance.getEntriesByType("resource")
                            .filter((entry) => entry.name.endsWith("/series"))
                            .map((entry) => entry.responseEnd)[0] ?? null,
                        seriesRequests: performance.getEntriesByType("resource")
                            .filter((entry) => entry.name.endsWith("/series")).length,
                        webgl: typeof Appion !== "undefined" && Appion.webgl
                            ? Boolean(Appion.webgl()) : null,
                        trace: document.getElementById("plot-drift").data[0].type,
                        note: document.getElementById("plot-note").textContent })""")
                    dcl.append(numbers["dcl"])
                    drawn.append(numbers["drawn"])
                    plotly.extend([numbers["plotly"]] if numbers["plotly"] is not None else [])
                    series.extend([numbers["series"]] if numbers["series"] is not None else [])
                    tasks = [duration for _, duration in numbers["tasks"]]
                    counts.append(len(tasks))
                    longest.append(max(tasks, default=0.0))
                    blocking.append(sum(max(0.0, d - 50.0) for d in tasks))
                    report["series_requests"] = numbers["seriesRequests"]
                    report.update(webgl=numbers["webgl"], trace_type=numbers["trace"],
                                  plot_note=numbers["note"])
                    if numbers["shown"] is not None:
                        shown.append(numbers["shown"])
                    if load == loads - 1:
                        zoom = page.evaluate(ZOOM_SCRIPT)
                        report["zoom_ms"] = facility.spread(zoom["times"], 1)
                        if zoom["details"]:
                            report["zoom_detail_ms"] = facility.spread(zoom["details"], 1)
                finally:
                    context.close()
        finally:
            browser.close()
    if errors:
        report["page_errors"] = sorted(set(errors))[:10]
    report.update(
        loads=loads, dom_content_loaded_ms=facility.spread(dcl, 1),
        plots_drawn_ms=facility.spread(drawn, 1),
        plots_shown_ms=facility.spread(shown, 1) if shown else None,
        plotly_loaded_ms=facility.spread(plotly, 1), series_received_ms=facility.spread(series, 1),
        long_tasks={"count": facility.spread(counts, 0),
                    "longest_ms": facility.spread(longest, 1),
                    "total_blocking_ms": facility.spread(blocking, 1)})
    return report


# -------------------------------------------------------------------------- sizes


def one_size(exposures: int, backend: str, args: argparse.Namespace) -> dict[str, Any]:
    saved = {key: os.environ.get(key) for key in ("APPION_HOME", "HOME", "SINEDON_CFG_PATH")}
    with ExitStack() as stack:
        stack.callback(_restore_environment, saved)
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(
            prefix="appion-dashboard-bench-")))
        config = stack.enter_context(facility_db.throwaway_databases(backend))
        env = serve_environment(config, root)
        os.environ.update({k: env[k] for k in ("APPION_HOME", "HOME")})
        os.environ.pop("SINEDON_CFG_PATH", None)
        if "SINEDON_CFG_PATH" in env:
            os.environ["SINEDON_CFG_PATH"] = env["SINEDON_CFG_PATH"]
        toml = dashboard_data.facility_toml(root / "facility.toml",
                                            dashboard_data.lookback_hours(exposures))
        made = dashboard_data.fabricate(root, exposures, config_path=toml)
        import sinedon
        sinedon.close_all()
        report: dict[str, Any] = {"exposures": exposures, "backend": backend,
                                  "fabricate_seconds": made.seconds,
                                  "validation": made.validation}
        port = facility._free_port()
        api = f"http://127.0.0.1:{port}"
        started = time.time()
        serve = stack.enter_context(facility._process(serve_command(root, port), env,
                                                      root / "serve.log"))
        try:
            report["load"] = wait_loaded(api, made.session, exposures, serve, started,
                                         timeout=args.load_timeout)
        except RuntimeError as error:
            report["error"] = str(error)
            report["serve_log_tail"] = (root / "serve.log").read_text(errors="replace")[-3000:]
            return report
        report["load"].update(log_times(root / "serve.log", made.session, started))
        loaded_rss = rss_mb(serve.process.pid)
        newest = made.exposures[-1]
        report["api"] = api_requests(api, made.session, newest, args.repeats)
        report["pages"] = page_requests(api, made.session, newest, args.repeats)
        missing = browser_missing() if args.browser != "no" else "--browser no"
        if missing is None and report["pages"]["session"] != "not available":
            report["browser"] = browser_measure(api, made.session, args.page_loads)
        elif args.browser == "yes":
            raise RuntimeError(f"no browser measurement: {missing}")
        else:
            report["browser"] = {"skipped": missing or "no session page"}
        after = rss_mb(serve.process.pid)
        report["serve_rss_mb"] = loaded_rss["serve"]
        report["worker_rss_mb"] = loaded_rss["workers"]
        report["serve_rss_mb_after_requests"] = after["serve"]
        stop_s, code = serve.stop(timeout=120)
        report["serve_exit_status"] = code
        log = (root / "serve.log").read_text(errors="replace")
        report["serve_log_errors"] = sum(" ERROR " in line for line in log.splitlines())
        if code != 0 or report["serve_log_errors"]:
            report["serve_log_tail"] = log[-3000:]
        report["target_met"] = target_met(report)
        return report


def target_met(report: dict[str, Any]) -> bool | None:
    """Page HTML and ``/series`` under a second (median); plots drawn within a second
    when the browser ran."""
    session = report["pages"].get("session")
    if not isinstance(session, dict):
        return None
    met = session["ms"]["median"] < 1000 and report["api"]["series"]["ms"]["median"] < 1000
    drawn = report.get("browser", {}).get("plots_drawn_ms")
    if drawn:
        met = met and drawn["median"] < 1000
    return bool(met)


def _restore_environment(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exposures", type=int, nargs="+", default=[1000, 20000],
                        help="session sizes (default: 1000 20000)")
    parser.add_argument("--mariadb", action="store_true",
                        help="throwaway MariaDB databases (APPION_TEST_MYSQL_*) instead "
                             "of embedded SQLite")
    parser.add_argument("--repeats", type=int, default=10, help="requests per URL")
    parser.add_argument("--browser", choices=("auto", "yes", "no"), default="auto",
                        help="measure in headless Chromium (auto: when installed)")
    parser.add_argument("--page-loads", type=int, default=3,
                        help="browser loads of the session page")
    parser.add_argument("--load-timeout", type=float, default=600.0,
                        help="seconds for appion serve to load the session")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    facility._exit_on_sigterm()
    backend = "mariadb" if args.mariadb else "sqlite"
    if args.mariadb:
        reason = facility.mariadb_missing()
        if reason:
            sys.exit(f"dashboard: {reason}")
    result: dict[str, Any] = {"benchmark": "dashboard", "backend": backend,
                              "serve_flags": " ".join(dashboard_data.SERVE_FLAGS),
                              "sizes": {}}
    for exposures in args.exposures:
        print(f"dashboard: {exposures} exposures on {backend}", file=sys.stderr, flush=True)
        result["sizes"][str(exposures)] = one_size(exposures, backend, args)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

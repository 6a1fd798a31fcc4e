"""``appion serve`` as a facility runs it: a subprocess against live simulated sessions on
several microscopes, its HTTP API, Prometheus metrics and alerts received by a local
webhook receiver and a local SMTP server, SIGTERM and restart."""

from __future__ import annotations

import json
from collections import Counter

import pytest

import sinedon

from .serving import (
    SERVE_STEPS,
    TOKEN,
    Api,
    MailServer,
    WebhookReceiver,
    all_done,
    appion,
    facility_toml,
    free_port,
    serve_env,
    start,
    stop,
    wait_for,
)

pytestmark = pytest.mark.timeout(600)


def results_per_exposure(session_name: str) -> tuple[Counter, Counter]:
    """How many aligned sums each exposure of the session has, and how many CTF results
    each aligned sum has (exactly once: every count is 1)."""
    session = sinedon.get("SessionData", {"name": session_name})
    exposures = set(sinedon.ids("AcquisitionImageData", {"session": session["id"]}))
    pairs = [row for row in sinedon.filter("ApDDAlignImagePairData", fields=["source", "result"])
             if row["source"] in exposures]
    aligned = {row["result"] for row in pairs}
    ctf = [row["image"] for row in sinedon.filter("ApCtfData", fields=["image"])
           if row["image"] in aligned]
    return Counter(row["source"] for row in pairs), Counter(ctf)


def assert_exactly_once(session_name: str, exposures: int) -> None:
    aligned, ctf = results_per_exposure(session_name)
    assert len(aligned) == exposures and set(aligned.values()) == {1}, aligned
    assert len(ctf) == exposures and set(ctf.values()) == {1}, ctf


def serve_command(config, port: int, state_dir, *extra: str) -> list[str]:
    return appion("serve", "--config", str(config), "--listen", f"127.0.0.1:{port}",
                  "--state-dir", str(state_dir), *SERVE_STEPS, *extra)


def run_facility_session(db, tmp_path, *cluster_flags: str) -> None:
    """Two microscopes (one starting after the service), every exposure processed once,
    lag falling to 0, a stall alert and its resolved notice, control refused without a
    token, and a clean SIGTERM."""
    with WebhookReceiver() as hook, MailServer() as mail:
        config = facility_toml(tmp_path / "facility.toml", webhook=hook.url,
                               smtp_port=mail.port, idle_minutes=0.4, stall_minutes=0.1)
        port = free_port()
        api = Api(f"http://127.0.0.1:{port}")
        env = serve_env(db.env)
        serve = start(serve_command(config, port, tmp_path / "state", *cluster_flags), env,
                      tmp_path / "serve.log")
        simulate = None
        try:
            wait_for(lambda: api.get("/healthz")[0] == 200, "the service's /healthz",
                     processes=(serve,))
            # the simulated facility starts after the service: both sessions are new to it
            simulate = start(appion("simulate", "--session", "fac", "--no-extras",
                                    "--scope", "Krios1:k3:1.0:3",
                                    "--scope", "Glacios:k2:1.0:3:6"),
                             env, tmp_path / "simulate.log")
            lags: list[float] = []

            def both_done():
                sessions = api.sessions()
                lags.extend(step["lag_seconds"] for s in sessions.values()
                            for step in s["steps"].values())
                return (set(sessions) >= {"fac-krios1", "fac-glacios"}
                        and all(all_done(sessions[name], 3)
                                for name in ("fac-krios1", "fac-glacios")) and sessions)

            sessions = wait_for(both_done, "both sessions processed", processes=(serve,))
            assert max(lags) > 0, "the lag never rose above 0 while exposures arrived"
            assert sessions["fac-krios1"]["microscope"] == "Krios1"
            assert sessions["fac-glacios"]["microscope"] == "Glacios"
            assert sessions["fac-glacios"]["camera"] == "GatanK2"
            for session in sessions.values():
                for step in session["steps"].values():
                    assert (step["lag_seconds"], step["lag_exposures"]) == (0, 0)
                    assert step["failed"] == 0 and step["latency_p50_s"] > 0
            assert simulate.wait(timeout=120) == 0

            status, metrics = api.get("/metrics")
            assert status == 200
            for name in ("fac-krios1", "fac-glacios"):
                for step in ("motioncor", "ctf"):
                    labels = f'{{session="{name}",step="{step}"}}'
                    assert f"appion_session_lag_seconds{labels} 0.0" in metrics
                    assert f"appion_exposures_processed_total{labels} 3.0" in metrics
            assert "appion_workers 1.0" in metrics

            page = api.get("/api/sessions/fac-krios1/exposures?per_page=2")[1]
            assert page["total"] == 3 and len(page["exposures"]) == 2
            newest = page["exposures"][0]
            assert newest["steps"]["ctf"]["status"] == "done"
            assert newest["steps"]["ctf"]["results"]["defocus1_a"] > 0
            assert newest["steps"]["motioncor"]["results"]["drift_total_a"] > 0

            assert api.post("/api/sessions/fac-krios1/pause")[0] == 401
            assert api.post("/api/sessions/fac-krios1/pause", "wrong-token-000000000")[0] == 401
            status, answer = api.post("/api/sessions/fac-krios1/pause", TOKEN)
            assert status == 200 and "paused" in answer["message"]
            assert api.sessions()["fac-krios1"]["paused"] is True
            assert api.post("/api/sessions/fac-krios1/resume", TOKEN)[0] == 200

            # no new exposure: the stall alert fires, then resolves once the session is
            # finished (idle_minutes)
            for name in ("fac-krios1", "fac-glacios"):
                wait_for(lambda name=name: "resolved" in hook.states("stalled", name),
                         f"the stall alert of {name} and its resolved notice",
                         processes=(serve,))
                assert hook.states("stalled", name)[0] == "firing"
            wait_for(lambda: any("RESOLVED" in s for s in mail.subjects()), "the mails")
            assert any("FIRING" in s and "fac-krios1" in s for s in mail.subjects())
            assert TOKEN not in json.dumps(hook.bodies)
            assert not api.sessions()["fac-krios1"]["active"]
        finally:
            if simulate is not None:
                stop(simulate)
            code = stop(serve)
        log = (tmp_path / "serve.log").read_text()
        assert code == 0, log[-4000:]
        assert TOKEN not in log
    db.setup()
    assert_exactly_once("fac-krios1", 3)
    assert_exactly_once("fac-glacios", 3)


def test_serve_processes_a_live_facility(db, tmp_path):
    run_facility_session(db, tmp_path)


@pytest.mark.slurm
def test_serve_on_slurm(slurm_cluster, sqlite_db, tmp_path):
    run_facility_session(sqlite_db, tmp_path, "--cluster", "slurm", "--min-workers", "0",
                         "--slurm-memory", "1GB", "--slurm-walltime", "00:10:00")


def test_sigterm_then_restart_loses_and_duplicates_nothing(mariadb_db, tmp_path):
    db = mariadb_db
    port = free_port()
    api = Api(f"http://127.0.0.1:{port}")
    config = tmp_path / "facility.toml"
    config.write_text("[service]\npoll_seconds = 0.5\nlookback_hours = 1\n"
                      "[defaults]\nidle_minutes = 5\n")
    env = serve_env(db.env)
    simulate = start(appion("simulate", "--session", "rst", "--no-extras",
                            "--scope", "Krios2:k3:1.5:6"), env, tmp_path / "simulate.log")
    command = serve_command(config, port, tmp_path / "state")
    serve = start(command, env, tmp_path / "serve1.log")
    try:
        wait_for(lambda: (api.sessions().get("rst-krios2", {}).get("steps", {})
                          .get("ctf", {}).get("done", 0) >= 2),
                 "two exposures through CTF", processes=(serve,))
    finally:
        first = stop(serve)
    assert first == 0, (tmp_path / "serve1.log").read_text()[-4000:]
    db.setup()
    aligned_before, _ = results_per_exposure("rst-krios2")
    assert 2 <= len(aligned_before) and set(aligned_before.values()) == {1}
    serve = start(command, env, tmp_path / "serve2.log")
    try:
        wait_for(lambda: all_done(api.sessions().get("rst-krios2", {"collected": 0}), 6),
                 "all six exposures after the restart", processes=(serve,))
        assert simulate.wait(timeout=120) == 0
    finally:
        stop(simulate)
        second = stop(serve)
    log = (tmp_path / "serve2.log").read_text()
    assert second == 0, log[-4000:]
    assert "resuming: 1 session(s)" in log
    db.setup()
    assert_exactly_once("rst-krios2", 6)
    jobs = sinedon.filter("ApAppionJobData", fields=["name", "status"])
    assert [job["status"] for job in jobs] == ["D"], jobs  # one run, one job row, done

"""The HTTP interface of ``appion serve``: a real server on an ephemeral port.

The service is replaced by a small fake of the ``FacilityApi`` protocol (the real one
is tested with the service): these tests are about routes, JSON, metrics, auth and
errors, over real HTTP.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from appion.base.errors import AppionError, UsageError
from appion.facility import web
from appion.facility.model import (
    DiskUsage,
    FacilityStatus,
    SessionStatus,
    StepStatus,
    iso_utc,
)

SECRET = "s3cret-token-for-the-tests-0123456789"
OPS_SECRET = "another-token-of-ops-9876543210abc"
NOW = 1796054400.0  # 2026-11-30T16:00:00Z


def step(name: str, **values) -> StepStatus:
    fields = dict(step=name, done=10, failed=1, pending=3, running=1, lag_seconds=95.5,
                  lag_exposures=3, processed_per_hour=42.0, latency_p50_s=30.0,
                  latency_p95_s=80.5, eta_seconds=300.0, processed_total=12, failed_total=1)
    return StepStatus(**{**fields, **values})


def session(name: str, **values) -> SessionStatus:
    fields = dict(name=name, session_id=7, microscope="krios1", camera="k3", preset="enn",
                  project=3, active=True, paused=False, collected=14,
                  collected_per_hour=60.0, last_exposure_at=NOW, rundir="/runs/x",
                  steps=(step("motioncor"), step("ctf", lag_seconds=400.0, lag_exposures=9,
                                                 pending=9, processed_total=5,
                                                 latency_p50_s=None, eta_seconds=None)))
    return SessionStatus(**{**fields, **values})


STATUS = FacilityStatus(
    sessions=(session("26nov30a"),
              session("26nov30b", microscope="glacios", active=False, paused=True,
                      last_exposure_at=None, steps=(), error="no frames folder")),
    workers=5, started_at=NOW - 3600, now=NOW,
    disks=(DiskUsage("/runs", total_bytes=1000, free_bytes=250),))


EXPOSURES = 120
IMAGE_KINDS = {"thumbnail": "jpg", "preview": "jpg", "spectrum": "png"}


def exposure_values(image_id: int) -> dict:
    return {"drift_total_a": 5.0 + image_id % 7, "defocus1_a": 15000.0 + 10 * image_id,
            "defocus2_a": 14500.0 + 10 * image_id, "astigmatism_angle_deg": 30.0,
            "resolution_a": 3.0 + (image_id % 5) / 2, "ice_thickness_nm": None,
            "particles": image_id % 11}


class FakeApi:
    """A hand-built snapshot, 120 exposures per known session (the newest, 120, failed its
    CTF), worker-made images for exposures 1-100 when given a folder to write them to,
    and recorded calls."""

    def __init__(self, status: FacilityStatus = STATUS, images: Path | None = None):
        self.snapshot = status
        self.pages: list[tuple] = []
        self.controls: list[tuple[str, str]] = []
        self.images = images

    def status(self) -> FacilityStatus:
        return self.snapshot

    def _exposure(self, image_id: int) -> dict:
        failed = image_id == EXPOSURES
        return {"image_id": image_id, "filename": f"img_{image_id}",
                "acquired_at": iso_utc(NOW - 60 * (EXPOSURES - image_id)),
                "values": exposure_values(image_id),
                "images": {kind: self.images is not None and image_id <= 100
                           for kind in IMAGE_KINDS},
                "steps": {"motioncor": {"status": "done", "error": None,
                                        "results": {"drift_total_a": 5.0}},
                          "ctf": {"status": "failed" if failed else "done",
                                  "error": "CTF fit diverged <b>" if failed else None,
                                  "results": {"resolution_a": 3.5}}}}

    def exposures(self, session: str, page: int, per_page: int, sort: str = "acquired_at",
                  descending: bool = True, status: str | None = None) -> dict | None:
        self.pages.append((session, page, per_page) if (sort, descending, status) == (
            "acquired_at", True, None) else (session, page, per_page, sort, descending, status))
        if self.snapshot.session(session) is None:
            return None
        if sort not in ("acquired_at", "image_id", *exposure_values(1)):
            raise ValueError(f"cannot sort by {sort!r}")
        everything = [self._exposure(i) for i in range(1, EXPOSURES + 1)]
        if status is not None:
            everything = [e for e in everything
                          if any(s["status"] == status for s in e["steps"].values())]
        key = "image_id" if sort == "acquired_at" else sort
        everything.sort(key=lambda e: (e["values"].get(key) or 0, e["image_id"])
                        if key != "image_id" else e["image_id"], reverse=descending)
        chosen = everything[(page - 1) * per_page:page * per_page]
        return {"session": session, "page": page, "per_page": per_page,
                "total": len(everything), "exposures": chosen}

    def exposure(self, session: str, image_id: int) -> dict | None:
        if self.snapshot.session(session) is None or not 1 <= image_id <= EXPOSURES:
            return None
        found = self._exposure(image_id)
        found["session"] = session
        found["steps"]["motioncor"]["details"] = {
            "trajectory_a": [[0.0, 0.0], [1.5, 0.5], [2.5, 1.5]],
            "files": {"aligned": f"/runs/x/img_{image_id}_a.mrc", "log": None},
            "parameters": {"bin": 1, "patches": "5x5"}}
        found["steps"]["ctf"]["details"] = {
            "profile": {"spatial_frequency_per_a": [0.01, 0.1, 0.2],
                        "spectrum": [1.0, 0.5, 0.2], "fit": [0.9, 0.4, 0.25],
                        "resolution_a": 3.5},
            "files": {}, "parameters": {"amplitude_contrast": 0.07}}
        found["run"] = {"runname": "serve1", "rundir": "/runs/x", "steps": ["motioncor", "ctf"],
                        "options": {"--dose": 50.0}}
        found["previous"] = image_id - 1 if image_id > 1 else None
        found["next"] = image_id + 1 if image_id < EXPOSURES else None
        return found

    def series(self, session: str) -> dict | None:
        if self.snapshot.session(session) is None:
            return None
        columns = ["image_id", "acquired_at", "drift_total_a", "defocus1_a", "defocus2_a",
                   "astigmatism_angle_deg", "resolution_a", "ice_thickness_nm"]
        return {"columns": columns,
                "rows": [[i, NOW - 60 * (EXPOSURES - i),
                          *(exposure_values(i)[c] for c in columns[2:])]
                         for i in range(1, EXPOSURES + 1)]}

    def history(self, session: str, hours: float = 6, bucket_s: float = 600) -> dict | None:
        self.pages.append(("history", session, hours, bucket_s))
        if self.snapshot.session(session) is None:
            return None
        count = int(hours * 3600 // bucket_s)
        return {"bucket_seconds": bucket_s,
                "buckets": [{"start": iso_utc(NOW - bucket_s * (count - i)),
                             "collected": 10, "processed": 8 + i % 3} for i in range(count)]}

    def image_path(self, session: str, image_id: int, kind: str) -> str | None:
        if (self.images is None or self.snapshot.session(session) is None
                or not 1 <= image_id <= 100):
            return None
        file = self.images / f"{image_id}.{kind}.{IMAGE_KINDS[kind]}"
        if not file.exists():
            file.write_bytes(tiny_image(IMAGE_KINDS[kind], image_id))
        return str(file)

    def facility(self) -> dict:
        return {"now": iso_utc(self.snapshot.now), "started_at": iso_utc(self.snapshot.started_at),
                "workers": self.snapshot.workers, "cluster": "local cluster, 5 workers",
                "thresholds": {"lag_minutes": 5.0, "stall_minutes": 10.0,
                               "ctf_resolution_a": 5.0, "drift_a": 30.0},
                "alerts": [{"rule": "lag", "subject": "26nov30a", "state": "firing",
                            "message": "lag 6 min"}]}

    def control(self, session: str, action: str) -> str:
        if self.snapshot.session(session) is None:
            raise KeyError(session)
        self.controls.append((session, action))
        return f"{action} {session}: done"


def tiny_image(kind: str, seed: int) -> bytes:
    """A real 64 x 64 JPEG or PNG (a gradient)."""
    import imagecodecs
    import numpy as np
    ramp = ((np.arange(64)[:, None] * 3 + np.arange(64)[None, :] + seed) % 256).astype(np.uint8)
    return bytes(imagecodecs.jpeg8_encode(ramp) if kind == "jpg"
                 else imagecodecs.png_encode(ramp))


@pytest.fixture(scope="module", autouse=True)
def django_as_in_the_service(tmp_path_factory):
    """sinedon configures Django before the web starts, as ``appion serve`` does."""
    from django.conf import settings

    if not settings.configured:
        import sinedon
        sinedon.setup(config=sinedon.embedded_config(tmp_path_factory.mktemp("home")))


AUTH = web.AuthSettings((web.Token("staff", SECRET), web.Token("ops", OPS_SECRET)))


@pytest.fixture
def api():
    return FakeApi()


def serve(api, auth=AUTH, listen="127.0.0.1:0"):
    server = web.WebServer(api, auth, listen)
    server.start()
    return server


@pytest.fixture
def server(api):
    server = serve(api)
    yield server
    server.stop()


def call(server, route, method="GET", token=None, host=None):
    """``(status, headers, body)`` of one request; JSON bodies decoded."""
    address, port = server.address
    request = urllib.request.Request(f"http://{address}:{port}{route}", method=method,
                                     data=b"" if method == "POST" else None)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    if host is not None:
        request.add_header("Host", host)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, headers, body = response.status, response.headers, response.read()
    except urllib.error.HTTPError as failure:
        status, headers, body = failure.code, failure.headers, failure.read()
    if headers.get_content_type() == "application/json":
        return status, headers, json.loads(body)
    if headers.get_content_maintype() == "image":
        return status, headers, body
    return status, headers, body.decode()


def test_healthz(server):
    assert call(server, "/healthz")[::2] == (200, {"status": "ok", "sessions": 2, "workers": 5})


def scrape(server, **kwargs):
    status, headers, text = call(server, "/metrics", **kwargs)
    assert status == 200 and headers.get_content_type() == "text/plain"
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def labels(**values):
    return tuple(sorted(values.items()))


def test_metrics_are_the_snapshot_in_prometheus_text(server):
    samples = scrape(server)
    a, b = "26nov30a", "26nov30b"
    assert samples[("appion_session_lag_seconds", labels(session=a, step="motioncor"))] == 95.5
    assert samples[("appion_session_lag_seconds", labels(session=a, step="ctf"))] == 400.0
    assert samples[("appion_session_lag_exposures", labels(session=a, step="ctf"))] == 9
    assert samples[("appion_session_pending", labels(session=a, step="ctf"))] == 9
    assert samples[("appion_exposures_processed_total", labels(session=a, step="ctf"))] == 5
    assert samples[("appion_exposures_failed_total", labels(session=a, step="ctf"))] == 1
    assert samples[("appion_session_active", labels(session=a, microscope="krios1"))] == 1
    assert samples[("appion_session_active", labels(session=b, microscope="glacios"))] == 0
    assert samples[("appion_exposures_collected_per_hour", labels(session=a))] == 60
    assert samples[("appion_workers", ())] == 5
    assert samples[("appion_disk_free_bytes", labels(path="/runs"))] == 250


def test_counters_are_typed_counters_with_total_samples(server):
    _, _, text = call(server, "/metrics")
    kinds = {family.name: family.type for family in text_string_to_metric_families(text)}
    assert kinds["appion_exposures_processed"] == "counter"
    assert kinds["appion_exposures_failed"] == "counter"
    assert "appion_exposures_processed_total{" in text
    assert "_created" not in text


def test_metrics_are_read_at_scrape_time(server, api):
    api.snapshot = replace(STATUS, workers=9, sessions=(
        session("26nov30a", steps=(step("motioncor", lag_seconds=math.inf),)),))
    samples = scrape(server)
    assert samples[("appion_workers", ())] == 9
    assert samples[("appion_session_lag_seconds",
                    labels(session="26nov30a", step="motioncor"))] == 0
    assert not any(key[1] and dict(key[1]).get("session") == "26nov30b" for key in samples)


def test_sessions_json(server):
    status, _, body = call(server, "/api/sessions")
    assert status == 200 and [item["name"] for item in body] == ["26nov30a", "26nov30b"]
    first, second = body
    assert {key: first[key] for key in ("microscope", "camera", "preset", "project",
                                        "active", "paused", "collected",
                                        "collected_per_hour", "last_exposure_at", "error")} \
        == {"microscope": "krios1", "camera": "k3", "preset": "enn", "project": 3,
            "active": True, "paused": False, "collected": 14, "collected_per_hour": 60.0,
            "last_exposure_at": "2026-11-30T16:00:00Z", "error": None}
    assert first["steps"]["ctf"] == {
        "done": 10, "failed": 1, "pending": 9, "running": 1, "lag_seconds": 400.0,
        "lag_exposures": 9, "processed_per_hour": 42.0, "latency_p50_s": None,
        "latency_p95_s": 80.5, "eta_seconds": None}
    assert second["last_exposure_at"] is None and second["steps"] == {}
    assert second["error"] == "no frames folder" and second["paused"] is True


def test_not_finite_numbers_become_null(server, api):
    api.snapshot = replace(STATUS, sessions=(
        session("x", collected_per_hour=math.nan, steps=(step("ctf", lag_seconds=math.inf),)),))
    _, _, body = call(server, "/api/sessions")
    assert body[0]["collected_per_hour"] is None
    assert body[0]["steps"]["ctf"]["lag_seconds"] is None


def test_exposures_are_paged(server, api):
    status, _, body = call(server, "/api/sessions/26nov30a/exposures?page=2&per_page=50")
    assert status == 200 and api.pages == [("26nov30a", 2, 50)]
    assert body["total"] == 120 and body["page"] == 2
    assert [item["image_id"] for item in body["exposures"]][:2] == [70, 69]
    assert body["exposures"][0]["steps"]["ctf"]["results"] == {"resolution_a": 3.5}


def test_exposures_page_defaults(server, api):
    assert call(server, "/api/sessions/26nov30a/exposures")[0] == 200
    assert call(server, "/api/sessions/26nov30a/exposures?per_page=500")[0] == 200
    assert api.pages == [("26nov30a", 1, 50), ("26nov30a", 1, 500)]


@pytest.mark.parametrize("query", ["page=0", "page=-1", "page=abc", "page=1.5", "page=",
                                   "per_page=0", "per_page=501", "per_page=x",
                                   "page=99999999999999999999"])
def test_bad_paging_is_400(server, api, query):
    status, _, body = call(server, f"/api/sessions/26nov30a/exposures?{query}")
    assert status == 400 and set(body) == {"error"} and "\n" not in body["error"]
    assert query.partition("=")[0] in body["error"]
    assert api.pages == []


def test_unknown_session_is_404(server):
    status, _, body = call(server, "/api/sessions/nosuch/exposures")
    assert (status, body) == (404, {"error": "no session 'nosuch'"})


def test_unknown_route_is_json_404(server):
    status, _, body = call(server, "/api/nothing")
    assert status == 404 and "/api/nothing" in body["error"]


@pytest.mark.parametrize(("route", "method", "allowed"), [
    ("/api/sessions", "POST", "GET, HEAD"),
    ("/metrics", "DELETE", "GET, HEAD"),
    ("/api/sessions/26nov30a/pause", "GET", "POST"),
])
def test_wrong_method_is_405(server, api, route, method, allowed):
    status, headers, body = call(server, route, method=method, token=SECRET)
    assert status == 405 and headers["Allow"] == allowed and method in body["error"]
    assert api.controls == []


def test_control_needs_a_token(server, api):
    status, _, body = call(server, "/api/sessions/26nov30a/pause", method="POST")
    assert status == 401 and "Authorization: Bearer" in body["error"]
    status, _, body = call(server, "/api/sessions/26nov30a/pause", method="POST",
                           token=SECRET + "x")
    assert status == 401 and SECRET not in json.dumps(body)
    assert api.controls == []


@pytest.mark.parametrize("action", ["pause", "resume", "retry"])
def test_control_with_a_token(server, api, action):
    status, _, body = call(server, f"/api/sessions/26nov30a/{action}", method="POST",
                           token=OPS_SECRET)
    assert status == 200 and api.controls == [("26nov30a", action)]
    assert body == {"session": "26nov30a", "action": action,
                    "message": f"{action} 26nov30a: done"}


def test_control_of_unknown_session_or_action_is_404(server, api):
    assert call(server, "/api/sessions/nosuch/pause", method="POST", token=SECRET)[0] == 404
    status, _, body = call(server, "/api/sessions/26nov30a/reboot", method="POST",
                           token=SECRET)
    assert status == 404 and "pause, resume, retry" in body["error"]
    assert api.controls == []


def test_control_without_configured_tokens_is_403(api):
    server = serve(api, auth=web.AuthSettings())
    try:
        status, _, body = call(server, "/api/sessions/26nov30a/retry", method="POST",
                               token=SECRET)
        assert status == 403 and "[auth]" in body["error"]
        assert call(server, "/api/sessions")[0] == 200  # reads on loopback stay open
    finally:
        server.stop()
    assert api.controls == []


def test_reads_with_a_foreign_host_header_need_a_token(server):
    """A page that rebinds its own name to 127.0.0.1 reads nothing without a token."""
    assert call(server, "/api/sessions", host="evil.example:8770")[0] == 401
    assert call(server, "/metrics", host="evil.example")[0] == 401
    assert call(server, "/api/sessions", host="evil.example", token=SECRET)[0] == 200
    assert call(server, "/api/sessions", host="localhost:8770")[0] == 200
    assert call(server, "/healthz", host="evil.example")[0] == 200


@pytest.mark.parametrize(("bound", "host", "needed"), [
    ("127.0.0.1", "127.0.0.1:8770", False),
    ("127.0.0.1", "localhost", False),
    ("::1", "[::1]:8770", False),
    ("localhost", "LOCALHOST:8770", False),
    ("127.0.0.2", "127.0.0.2", False),
    ("0.0.0.0", "127.0.0.1:8770", True),
    ("::", "[::1]:8770", True),
    ("192.168.1.20", "192.168.1.20:8770", True),
    ("microscope-pc", "localhost", True),
    ("127.0.0.1", "facility.example.org", True),
    ("127.0.0.1", "", True),
])
def test_reads_need_a_token_off_loopback(bound, host, needed):
    assert web.reads_need_token(bound, host) is needed


def test_server_error_is_json_500(server, api, caplog):
    def broken():
        raise RuntimeError("snapshot lost")
    api.status = broken
    with caplog.at_level(logging.ERROR):
        status, _, body = call(server, "/api/sessions")
    assert status == 500 and set(body) == {"error"}


def test_tokens_never_logged(server, caplog):
    with caplog.at_level(logging.DEBUG):
        call(server, "/api/sessions/26nov30a/retry", method="POST", token=SECRET)
        call(server, "/api/sessions/26nov30a/pause", method="POST", token=OPS_SECRET[:-1])
        call(server, "/api/sessions", host="evil.example", token=OPS_SECRET)
    logged = caplog.text + repr([record.__dict__ for record in caplog.records])
    assert SECRET not in logged and OPS_SECRET[:-1] not in logged
    control = [record.getMessage() for record in caplog.records
               if record.name == "appion.facility.web" and record.levelno == logging.INFO
               and "retry" in record.getMessage()]
    assert control == ["staff asked to retry session 26nov30a: retry 26nov30a: done"]


def test_port_taken(api):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(AppionError) as raised:
            serve(api, listen=f"127.0.0.1:{port}")
    message = str(raised.value)
    assert message.startswith(f"cannot listen on 127.0.0.1:{port}: ")
    assert message.endswith("; choose another --listen") and "\n" not in message


def test_stop_frees_the_port(api):
    server = serve(api)
    port = server.address[1]
    server.stop()
    again = serve(api, listen=f"127.0.0.1:{port}")
    try:
        assert call(again, "/healthz")[0] == 200
    finally:
        again.stop()


def test_ipv6_loopback(api):
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        server = serve(api, listen="[::1]:0")
    except AppionError as reason:
        pytest.skip(f"cannot bind ::1 here: {reason}")
    try:
        host, port = server.address
        assert host == "::1"
        with urllib.request.urlopen(f"http://[::1]:{port}/api/sessions", timeout=30) as reply:
            assert reply.status == 200
    finally:
        server.stop()


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:8770", ("127.0.0.1", 8770)), ("[::1]:8770", ("::1", 8770)),
    ("0.0.0.0:0", ("0.0.0.0", 0)), ("localhost:80", ("localhost", 80)),
])
def test_parse_listen(text, expected):
    assert web.parse_listen(text) == expected


@pytest.mark.parametrize("text", ["8770", "127.0.0.1", ":8770", "127.0.0.1:port",
                                  "127.0.0.1:70000", "::1:8770", "[::1]8770", "a b:1", ""])
def test_parse_listen_refuses(text):
    with pytest.raises(UsageError, match=r"expected HOST:PORT") as raised:
        web.parse_listen(text)
    assert "\n" not in str(raised.value)


def test_parse_auth_from_env_and_file(monkeypatch, tmp_path):
    monkeypatch.setenv("APPION_SERVE_TOKEN", SECRET)
    file = tmp_path / "ops.token"
    file.write_text(OPS_SECRET + "\n")
    file.chmod(0o600)
    auth = web.parse_auth({"tokens": [{"name": "staff", "token_env": "APPION_SERVE_TOKEN"},
                                      {"name": "ops", "token_file": str(file)}]})
    assert auth.tokens == (web.Token("staff", SECRET), web.Token("ops", OPS_SECRET))
    assert auth.who(f"Bearer {OPS_SECRET}") == "ops" and auth.who(f"bearer {SECRET}") == "staff"
    assert auth.who(SECRET) is None and auth.who(None) is None and auth.who("Bearer ") is None
    assert SECRET not in repr(auth) and "staff" in repr(auth)
    assert web.parse_auth({}) == web.AuthSettings()


def auth_error(table) -> str:
    with pytest.raises(UsageError) as raised:
        web.parse_auth(table)
    message = str(raised.value)
    assert message.startswith("facility.toml [auth]: ") and "\n" not in message
    return message


def test_inline_token_refused():
    message = auth_error({"tokens": [{"name": "staff", "token": SECRET}]})
    assert "token_env" in message and "token_file" in message and SECRET not in message


def test_unset_env_names_the_variable(monkeypatch):
    monkeypatch.delenv("APPION_TEST_UNSET_TOKEN", raising=False)
    message = auth_error({"tokens": [{"name": "staff", "token_env": "APPION_TEST_UNSET_TOKEN"}]})
    assert "APPION_TEST_UNSET_TOKEN" in message and "not set" in message


def test_short_token_refused_without_showing_it(monkeypatch):
    monkeypatch.setenv("APPION_TEST_SHORT_TOKEN", "hunter2")
    message = auth_error({"tokens": [{"name": "staff", "token_env": "APPION_TEST_SHORT_TOKEN"}]})
    assert "at least 16" in message and "hunter2" not in message


def test_missing_token_file(tmp_path):
    missing = tmp_path / "none.token"
    message = auth_error({"tokens": [{"name": "ops", "token_file": str(missing)}]})
    assert str(missing) in message


@pytest.mark.parametrize(("table", "says"), [
    ({"tokens": {"name": "x"}}, "list of tables"),
    ({"tokens": ["abc"]}, "must be a table"),
    ({"tokens": [{"token_env": "X"}]}, "needs a name"),
    ({"tokens": [{"name": "staff"}]}, "exactly one of token_env or token_file"),
    ({"tokens": [{"name": "staff", "token_env": "A", "token_file": "/b"}]}, "exactly one"),
    ({"tokens": [{"name": "staff", "secret": "x"}]}, "unknown key 'secret'"),
    ({"people": []}, "unknown key 'people'"),
])
def test_parse_auth_refuses(table, says):
    assert says in auth_error(table)


def test_duplicate_token_names(monkeypatch):
    monkeypatch.setenv("APPION_SERVE_TOKEN", SECRET)
    entry = {"name": "staff", "token_env": "APPION_SERVE_TOKEN"}
    assert "used twice" in auth_error({"tokens": [entry, dict(entry)]})


def test_iso_utc():
    assert web.iso_utc(NOW) == "2026-11-30T16:00:00Z"
    assert web.iso_utc(None) is None and web.iso_utc(math.nan) is None


SCRIPT = """
import json, urllib.request
from django.conf import settings
from appion.facility import web
from appion.facility.model import FacilityStatus
assert not settings.configured
class Api:
    def status(self):
        return FacilityStatus(sessions=(), workers=2, started_at=0.0, now=0.0)
server = web.WebServer(Api(), web.AuthSettings(), "127.0.0.1:0")
server.start()
host, port = server.address
with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=30) as reply:
    print(json.dumps([reply.status, json.load(reply), settings.DEBUG, settings.MIDDLEWARE]))
server.stop()
"""


def test_works_when_django_is_not_configured():
    """Outside ``appion serve`` (sinedon not set up) the module configures Django itself."""
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [200, {"status": "ok", "sessions": 0, "workers": 2},
                                       False, []]


def test_keeps_the_settings_sinedon_made(server):
    """The web adds what HTTP needs to sinedon's Django settings and changes nothing else."""
    from django.conf import settings

    assert call(server, "/healthz")[0] == 200
    assert settings.ROOT_URLCONF and settings.ALLOWED_HOSTS
    assert "sinedon.appiondata" in settings.INSTALLED_APPS
    assert "appiondata" in settings.DATABASES


# -- the dashboard's JSON API and images ----------------------------------------------

@pytest.fixture
def images_api(tmp_path):
    return FakeApi(images=tmp_path)


@pytest.fixture
def images_server(images_api):
    server = serve(images_api)
    yield server
    server.stop()


def test_facility_json(server):
    status, _, body = call(server, "/api/facility")
    assert status == 200 and body["workers"] == 5
    assert body["thresholds"]["lag_minutes"] == 5.0 and body["alerts"][0]["state"] == "firing"


def test_exposures_sorted_and_filtered(server, api):
    status, _, body = call(server, "/api/sessions/26nov30a/exposures?sort=resolution_a"
                                   "&order=asc&per_page=3&page=2")
    assert status == 200 and api.pages == [("26nov30a", 2, 3, "resolution_a", False, None)]
    values = [item["values"]["resolution_a"] for item in body["exposures"]]
    assert values == sorted(values) and values[0] == 3.0
    status, _, body = call(server, "/api/sessions/26nov30a/exposures?status=failed")
    assert status == 200 and [e["image_id"] for e in body["exposures"]] == [120]
    assert body["exposures"][0]["steps"]["ctf"]["error"] == "CTF fit diverged <b>"


@pytest.mark.parametrize(("query", "says"), [
    ("sort=Drop%20table", "sort"), ("sort=", "sort"), ("order=up", "order"),
    ("status=lost", "status"), ("sort=no_such_value", "cannot sort by"),
])
def test_bad_exposure_queries_are_400(server, query, says):
    status, _, body = call(server, f"/api/sessions/26nov30a/exposures?{query}")
    assert status == 400 and says in body["error"] and "\n" not in body["error"]


def test_one_exposure_json(server):
    status, _, body = call(server, "/api/sessions/26nov30a/exposures/7")
    assert status == 200 and body["image_id"] == 7 and body["previous"] == 6
    assert body["steps"]["motioncor"]["details"]["trajectory_a"][1] == [1.5, 0.5]
    assert call(server, "/api/sessions/26nov30a/exposures/999")[::2] == (
        404, {"error": "no exposure 999 in session '26nov30a'"})
    assert call(server, "/api/sessions/nosuch/exposures/7")[0] == 404
    assert call(server, "/api/sessions/26nov30a/exposures/x7")[0] == 404


def test_series_json(server):
    status, _, body = call(server, "/api/sessions/26nov30a/series")
    assert status == 200 and body["columns"][:2] == ["image_id", "acquired_at"]
    assert len(body["rows"]) == 120 and body["rows"][0][0] == 1
    assert call(server, "/api/sessions/nosuch/series")[0] == 404


def test_history_json(server, api):
    status, _, body = call(server, "/api/sessions/26nov30a/history?hours=2&bucket_s=1800")
    assert status == 200 and len(body["buckets"]) == 4 and body["bucket_seconds"] == 1800
    assert call(server, "/api/sessions/26nov30a/history")[0] == 200
    assert api.pages == [("history", "26nov30a", 2.0, 1800.0), ("history", "26nov30a", 6.0, 600.0)]
    for query in ("hours=0", "hours=-1", "hours=1e9", "bucket_s=abc", "bucket_s=1"):
        status, _, body = call(server, f"/api/sessions/26nov30a/history?{query}")
        assert status == 400 and query.partition("=")[0] in body["error"]
    assert call(server, "/api/sessions/nosuch/history")[0] == 404


def test_images_are_the_worker_made_files(images_server, images_api, tmp_path):
    status, headers, _ = call(images_server, "/images/26nov30a/5/thumbnail.jpg")
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    assert "max-age=" in headers["Cache-Control"]
    address, port = images_server.address
    with urllib.request.urlopen(f"http://{address}:{port}/images/26nov30a/5/spectrum.png",
                                timeout=30) as reply:
        assert reply.headers["Content-Type"] == "image/png"
        assert reply.read() == (tmp_path / "5.spectrum.png").read_bytes()


@pytest.mark.parametrize("route", [
    "/images/26nov30a/110/thumbnail.jpg",      # not written (yet)
    "/images/nosuch/5/thumbnail.jpg",          # no session
    "/images/26nov30a/5/thumbnail.png",        # wrong suffix for the kind
    "/images/26nov30a/5/raw.mrc",              # not a kind
    "/images/26nov30a/5/..%2f..%2fetc%2fpasswd.jpg",
])
def test_images_404(images_server, route):
    status, headers, body = call(images_server, route)
    assert status == 404 and headers.get_content_type() == "application/json"
    assert set(body) == {"error"}


def test_images_404_when_the_file_went_away(images_server, images_api, tmp_path):
    assert call(images_server, "/images/26nov30a/6/preview.jpg")[0] == 200
    (tmp_path / "6.preview.jpg").unlink()
    images_api.image_path = lambda *args: str(tmp_path / "6.preview.jpg")
    assert call(images_server, "/images/26nov30a/6/preview.jpg")[0] == 404


def test_new_reads_need_a_token_off_loopback(images_server):
    for route in ("/api/facility", "/api/sessions/26nov30a/series",
                  "/api/sessions/26nov30a/history", "/api/sessions/26nov30a/exposures/7",
                  "/images/26nov30a/5/thumbnail.jpg"):
        assert call(images_server, route, host="evil.example")[0] == 401, route
        assert call(images_server, route, host="evil.example", token=SECRET)[0] == 200, route


def test_new_routes_refuse_posts(server, api):
    for route in ("/api/facility", "/api/sessions/26nov30a/series",
                  "/api/sessions/26nov30a/exposures/7"):
        status, headers, _ = call(server, route, method="POST", token=SECRET)
        assert status == 405 and headers["Allow"] == "GET, HEAD"
    assert api.controls == []


def test_parse_auth_users():
    hashed = "pbkdf2_sha256$1000$salt$abcdef"
    auth = web.parse_auth({"users": [{"name": "alice", "password_hash": hashed}]})
    assert [user.name for user in auth.users] == ["alice"] and auth.tokens == ()
    assert hashed not in repr(auth)


@pytest.mark.parametrize(("table", "says"), [
    ({"users": {"name": "alice"}}, "list of tables"),
    ({"users": ["alice"]}, "must be a table"),
    ({"users": [{"password_hash": "pbkdf2_sha256$1$s$h"}]}, "needs a name"),
    ({"users": [{"name": "alice", "password": "hunter2"}]}, "unknown key 'password'"),
    ({"users": [{"name": "alice"}]}, "needs password_hash"),
    ({"users": [{"name": "alice", "password_hash": "hunter2"}]}, "Django password hash"),
    ({"users": [{"name": "a b", "password_hash": "pbkdf2_sha256$1$s$h"}]}, "needs a name"),
    ({"users": [{"name": "a", "password_hash": "pbkdf2_sha256$1$s$h"},
                {"name": "a", "password_hash": "pbkdf2_sha256$1$s$h"}]}, "listed twice"),
])
def test_parse_auth_refuses_bad_users(table, says):
    message = auth_error(table)
    assert says in message and "hunter2" not in message


def test_large_json_is_gzipped_for_clients_that_accept_it(server):
    import gzip
    address, port = server.address
    route = f"http://{address}:{port}/api/sessions/26nov30a/exposures?per_page=500"
    request = urllib.request.Request(route, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        assert reply.headers["Content-Encoding"] == "gzip"
        assert json.loads(gzip.decompress(reply.read()))["total"] == 120
    status, headers, body = call(server, "/api/sessions/26nov30a/exposures?per_page=500")
    assert status == 200 and headers["Content-Encoding"] is None and body["total"] == 120
    request = urllib.request.Request(route.replace("500", "2"),
                                     headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=30) as reply:  # small: as it is
        assert reply.headers["Content-Encoding"] is None

"""``appion demo`` (what ``make demo`` runs), shortened, through the real entry point."""

import json
import os
import signal
import subprocess
import time
import urllib.request

from appion.cli.demo import exposure_label


def test_exposure_label_keeps_the_target_path_without_padding():
    assert exposure_label("demo_00001gr_00012sq_v01_00002hl_00004enn") == "1gr_12sq_v01_2hl_4enn"


def test_a_short_demo_processes_every_exposure_and_says_where_outputs_are(tmp_path, cli):
    env = {key: value for key, value in os.environ.items()
           if key not in ("SINEDON_CFG_PATH", "APPION_HOME")}
    env["HOME"] = str(tmp_path)  # no sinedon.cfg: the embedded databases
    folder = tmp_path / "demo"
    done = cli(["appion", "demo", "--exposures", "2", "--interval", "0.5", "--workers", "1",
                "--folder", str(folder), "--exit"], env=env)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "2 of 2 exposures went through motion correction and CTF." in out
    assert "1gr_12sq_v01_1hl_1enn" in out and "1gr_12sq_v01_1hl_2enn" in out
    assert str(folder / "runs" / "demo-run") in out
    assert (folder / "runs" / "demo-run" / "appion-status.json").is_file()


def test_the_demo_ends_serving_its_run_on_the_dashboard_until_ctrl_c(tmp_path):
    from tests.facility.serving import appion, free_port
    env = {key: value for key, value in os.environ.items()
           if key not in ("SINEDON_CFG_PATH", "APPION_HOME")}
    env["HOME"] = str(tmp_path)
    port = free_port()
    out_path = tmp_path / "demo.out"
    with open(out_path, "w") as out:
        demo = subprocess.Popen(appion("demo", "--exposures", "2", "--interval", "0.5",
                                       "--workers", "1", "--folder", str(tmp_path / "demo"),
                                       "--listen", f"127.0.0.1:{port}"),
                                env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 400
            while "Dashboard: " not in out_path.read_text() and demo.poll() is None:
                assert time.monotonic() < deadline, out_path.read_text()[-4000:]
                time.sleep(0.5)
            base = f"http://127.0.0.1:{port}"
            page = urllib.request.urlopen(base + "/", timeout=30).read().decode()
            deadline = time.monotonic() + 120
            while True:  # the service resumes the demo's run: nothing is processed again
                sessions = json.loads(urllib.request.urlopen(base + "/api/sessions",
                                                             timeout=30).read())
                steps = sessions[0]["steps"] if sessions else {}
                if steps and all(step["done"] == 2 for step in steps.values()):
                    break
                assert time.monotonic() < deadline, sessions
                time.sleep(0.5)
            demo.send_signal(signal.SIGINT)
            code = demo.wait(timeout=150)
        finally:
            if demo.poll() is None:
                demo.kill()
                demo.wait()
    text = out_path.read_text()
    assert code == 0, text[-4000:]
    assert f"Dashboard: {base}/" in text
    assert "<html" in page.lower()
    assert [s["name"] for s in sessions] == ["demo"]
    log = (tmp_path / "demo" / "serve.log").read_text()
    assert "motioncor 2 done before, ctf 2 done before" in log

"""The dashboard in a real browser: headless Chromium (Debian's ``chromium``, driven by
Playwright) against ``appion serve`` processing a live simulated session.

The facility page shows the session and its lag changing as exposures arrive; the
session page draws its plots and thumbnails; clicking an exposure opens its page;
retry is refused logged out and works logged in.  Screenshots are saved under
``$APPION_TEST_ARTIFACTS/dashboard`` (default ``tests/artifacts/dashboard``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import service_missing

from .serving import (
    SERVE_STEPS,
    TOKEN_ENV,
    Api,
    all_done,
    appion,
    free_port,
    serve_env,
    start,
    stop,
    wait_for,
)

pytestmark = pytest.mark.timeout(600)

EXPOSURES = 8
SESSION = "dash-krios1"
USER, PASSWORD = "alice", "a long password for the dashboard test"


def artifacts() -> Path:
    root = os.environ.get("APPION_TEST_ARTIFACTS")
    folder = (Path(root) if root else Path(__file__).resolve().parents[1] / "artifacts")
    folder = folder / "dashboard"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser():
    """Headless Debian Chromium through Playwright (no browser is downloaded)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_missing("the Python package playwright is not installed "
                        "(pip install -e '.[test]')")
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        service_missing("Debian's chromium is not installed (apt-get install chromium)")
    arguments = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=arguments)
        try:
            yield browser
        finally:
            browser.close()


def password_hash(password: str) -> str:
    from django.contrib.auth.hashers import PBKDF2PasswordHasher
    return PBKDF2PasswordHasher().encode(password, "dashboardsalt", iterations=1000)


def write_config(path: Path) -> Path:
    path.write_text(f"""
[service]
poll_seconds = 0.5
lookback_hours = 1

[defaults]
idle_minutes = 10

[[alert]]
name = "lag"
kind = "lag"
minutes = 2

[[alert]]
name = "quality"
kind = "quality"
ctf_resolution_worse_than = 8.0
drift_above = 40.0

[auth]
tokens = [{{ name = "staff", token_env = "{TOKEN_ENV}" }}]
users = [{{ name = "{USER}", password_hash = "{password_hash(PASSWORD)}" }}]
""")
    return path


class Watcher:
    """Collects texts seen on a page while waiting for something else."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def note(self, text: str | None) -> None:
        if text and (not self.seen or self.seen[-1] != text):
            self.seen.append(text)


def test_dashboard_in_a_browser(sqlite_db, tmp_path, browser):
    shots = artifacts()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = Api(base)
    env = serve_env(sqlite_db.env)
    serve = start(appion("serve", "--config", str(write_config(tmp_path / "facility.toml")),
                         "--listen", f"127.0.0.1:{port}", "--state-dir",
                         str(tmp_path / "state"), *SERVE_STEPS), env, tmp_path / "serve.log")
    simulate = None
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        wait_for(lambda: api.get("/healthz")[0] == 200, "the service's /healthz",
                 processes=(serve,))
        page.goto(base + "/")
        page.wait_for_selector("#summary:not(:text('Loading'))")
        simulate = start(appion("simulate", "--session", "dash", "--no-extras",
                                "--scope", f"Krios1:k3:2.0:{EXPOSURES}"),
                         env, tmp_path / "simulate.log")

        # -- the facility page: the session's card, its lag changing as exposures arrive
        card = page.locator(f'article.card[data-session="{SESSION}"]')
        card.wait_for(timeout=240_000)
        lag = card.locator('[data-testid="lag"] .lag-value')
        lags = Watcher()

        def processed_all() -> bool:
            lags.note(lag.text_content())
            return all_done(api.sessions().get(SESSION, {"collected": 0}), EXPOSURES)

        page.screenshot(path=str(shots / "facility-live.png"), full_page=True)
        wait_for(processed_all, f"all {EXPOSURES} exposures processed", processes=(serve,),
                 every=0.25)
        # the page polls: it shows the caught-up lag within a few seconds
        wait_for(lambda: lags.note(lag.text_content()) or lags.seen[-1] == "0 s",
                 "the page to show a lag of 0 s", timeout=30)
        assert len(lags.seen) >= 3, f"the lag shown never changed: {lags.seen}"
        level = card.locator('[data-testid="lag"]').get_attribute("data-level")
        assert level == "ok" and "on time" in card.text_content()
        assert card.locator(".minichart .main-svg").count() > 0
        page.screenshot(path=str(shots / "facility.png"), full_page=True)

        # -- the session page: plots, thumbnails, the table
        card.locator('[data-testid="session-link"]').click()
        page.wait_for_url(f"**/sessions/{SESSION}")
        page.wait_for_function("document.body.dataset.plotsDrawn === 'yes'", timeout=60_000)
        for plot in ("plot-drift", "plot-defocus", "plot-resolution"):
            points = page.locator(f"#{plot} .scatterlayer .point").count()
            canvases = page.locator(f"#{plot} canvas").count()
            assert points > 0 or canvases > 0, f"{plot} draws nothing"
        assert page.locator("#plot-drift .scatterlayer .point").count() == EXPOSURES
        assert page.locator("#hist-resolution .bars path").count() > 0
        thumbnails = page.locator('[data-testid="thumbnail"] img')
        wait_for(lambda: thumbnails.count() >= 2 * EXPOSURES, "the thumbnails", timeout=60)
        page.wait_for_function("""() => [...document.querySelectorAll(
            '[data-testid="thumbnail"] img')].every(i => i.complete && i.naturalWidth > 0)""",
                               timeout=60_000)
        page.locator("#exposures tbody tr").first.wait_for()
        assert page.locator("#exposures tbody tr").count() == EXPOSURES
        assert page.locator("#retry").is_disabled()
        page.screenshot(path=str(shots / "session.png"), full_page=True)

        # -- control refused logged out, even when the page's script is bypassed
        refused = page.evaluate(f"""async () => (await fetch('/api/sessions/{SESSION}/retry',
            {{method: 'POST', headers: {{'X-CSRF-Token': 'forged'}}}})).status""")
        assert refused == 401

        # -- clicking an exposure row opens its page
        row = page.locator("#exposures tbody tr").nth(2)
        image_id = row.get_attribute("data-image-id")
        row.locator("td").nth(2).click()
        page.wait_for_url(f"**/sessions/{SESSION}/exposures/{image_id}")
        page.wait_for_function("document.body.dataset.plotsDrawn === 'yes'")
        assert page.locator("#values").text_content().count("drift_total_a") == 1
        page.wait_for_function("document.getElementById('preview').naturalWidth > 0")
        page.wait_for_function("document.getElementById('spectrum').naturalWidth > 0")
        assert page.locator("#plot-trajectory .main-svg").count() > 0
        assert page.locator("#plot-profile .main-svg").count() > 0
        page.locator("#zoom").hover()
        page.mouse.wheel(0, -300)
        page.wait_for_function("Number(document.getElementById('zoom').dataset.scale) > 1")
        page.screenshot(path=str(shots / "exposure.png"), full_page=True)

        # -- logging in enables retry, and retry works
        page.goto(f"{base}/sessions/{SESSION}")
        page.locator("a", has_text="Log in").first.click()
        page.fill("#username", USER)
        page.fill("#password", PASSWORD)
        page.click("form.login button[type=submit]")
        page.wait_for_url(f"**/sessions/{SESSION}")
        assert "Logged in as" in page.locator("header").text_content()
        assert page.locator("#retry").is_enabled()
        page.click("#retry")
        message = page.locator("#control-message")
        message.filter(has_text="✓").wait_for(timeout=30_000)
        assert message.get_attribute("data-status") == "200"
        assert "queued again" in message.text_content()
        page.screenshot(path=str(shots / "session-logged-in.png"), full_page=True)

        phone = browser.new_page(viewport={"width": 390, "height": 844})
        phone.goto(base + "/")
        phone.locator(f'article.card[data-session="{SESSION}"]').wait_for()
        width = phone.evaluate("document.documentElement.scrollWidth")
        phone.screenshot(path=str(shots / "facility-phone.png"), full_page=True)
        assert width <= 390, "the facility page is wider than a phone"
        phone.close()
        assert errors == [], errors
    finally:
        page.close()
        if simulate is not None:
            stop(simulate)
        code = stop(serve)
    log = (tmp_path / "serve.log").read_text()
    assert code == 0, log[-4000:]
    assert PASSWORD not in log

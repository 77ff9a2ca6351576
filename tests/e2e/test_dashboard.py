"""The web dashboard (dashboard/) built, unit-tested with Vitest and driven in the system
Chromium by Playwright against the local cloud, which serves it under /app/.

The Playwright suite (dashboard/e2e) signs up, logs in, works leads and the board (a second
browser context sees a move live), reads reports, switches pt-BR/English, runs an axe scan on
each page and saves screenshots of the main pages into docs/screenshots/.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import requests

from tests.e2e.conftest import LocalCloudProcess
from tests.support import ROOT

pytestmark = pytest.mark.e2e

DASHBOARD = ROOT / "dashboard"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def _run(command: list[str], timeout: float, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        command,
        cwd=DASHBOARD,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = (result.stdout + result.stderr)[-6000:]
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{output}"
    return output


@pytest.fixture(scope="module")
def built_dashboard() -> None:
    assert shutil.which("node"), "Node >= 20 is needed for the dashboard (see scripts/setup.sh)"
    _run(["bash", str(ROOT / "scripts" / "dashboard.sh"), "build"], timeout=600)


def test_unit_and_component_tests_pass(built_dashboard: None) -> None:
    _run(["npx", "--no-install", "vitest", "run"], timeout=300)


def test_initial_javascript_stays_within_budget(built_dashboard: None) -> None:
    print(_run(["node", "scripts/js-budget.mjs"], timeout=60))


def test_gateway_serves_the_app_under_app(
    local_cloud: LocalCloudProcess, built_dashboard: None
) -> None:
    deep_link = requests.get(f"{local_cloud.url}/app/leads/3f0c", timeout=10)
    assert deep_link.status_code == 200
    assert deep_link.headers["Content-Type"] == "text/html; charset=utf-8"
    assert deep_link.headers["Cache-Control"] == "no-cache"
    assert '<div id="root">' in deep_link.text
    script = deep_link.text.split('src="/app/', 1)[1].split('"', 1)[0]
    asset = requests.get(f"{local_cloud.url}/app/{script}", timeout=10)
    assert asset.status_code == 200
    assert asset.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert asset.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert requests.get(f"{local_cloud.url}/app/assets/gone.js", timeout=10).status_code == 404
    # API paths stay where they are on the same port.
    assert requests.get(f"{local_cloud.url}/openapi.json", timeout=10).status_code == 200


@pytest.mark.timeout(480)
def test_playwright_suite_in_chromium(
    local_cloud: LocalCloudProcess, built_dashboard: None
) -> None:
    assert os.access(CHROMIUM, os.X_OK), f"no Chromium at {CHROMIUM} (scripts/setup.sh installs it)"
    screenshots = ROOT / "docs" / "screenshots"
    screenshots.mkdir(parents=True, exist_ok=True)
    _run(
        ["npx", "--no-install", "playwright", "test"],
        timeout=450,
        env={
            "CRM_DASHBOARD_URL": f"{local_cloud.url}/app/",
            "CRM_SCREENSHOT_DIR": str(screenshots),
            "CHROMIUM_PATH": CHROMIUM,
        },
    )

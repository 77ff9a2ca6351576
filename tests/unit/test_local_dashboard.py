"""local/dashboard.py: how the gateway serves the built dashboard under /app/."""

from pathlib import Path

import pytest

from local import dashboard
from local.gateway import GatewayRequest


def _get(path: str, method: str = "GET") -> GatewayRequest:
    return GatewayRequest(method, path, "", [], b"", "127.0.0.1", "localhost")


@pytest.fixture()
def dist(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<html>app</html>")
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log(1)")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    (tmp_path.parent / "secret.txt").write_text("no")
    return tmp_path


def test_hashed_assets_are_immutable(dist: Path) -> None:
    response = dashboard.serve(_get("/app/assets/index-abc123.js"), dist)
    headers = dict(response.headers)
    assert response.status == 200
    assert headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"


def test_deep_links_get_the_app_revalidated(dist: Path) -> None:
    for path in ("/app/", "/app/leads/1d2c", "/app/settings"):
        response = dashboard.serve(_get(path), dist)
        assert (response.status, response.body) == (200, b"<html>app</html>")
        assert dict(response.headers)["Cache-Control"] == "no-cache"


def test_other_files_are_revalidated_with_their_type(dist: Path) -> None:
    response = dashboard.serve(_get("/app/favicon.svg"), dist)
    assert dict(response.headers)["Content-Type"] == "image/svg+xml"
    assert dict(response.headers)["Cache-Control"] == "no-cache"


def test_missing_asset_is_404_not_html(dist: Path) -> None:
    assert dashboard.serve(_get("/app/assets/old-999.js"), dist).status == 404


def test_paths_outside_the_build_are_refused(dist: Path) -> None:
    assert dashboard.serve(_get("/app/../secret.txt"), dist).status == 404


def test_bare_prefix_redirects_and_writes_are_refused(dist: Path) -> None:
    redirect = dashboard.serve(_get("/app"), dist)
    assert (redirect.status, dict(redirect.headers)["Location"]) == (301, "/app/")
    assert dashboard.serve(_get("/app/", "POST"), dist).status == 405


def test_without_a_build_the_answer_says_how_to_make_one(tmp_path: Path) -> None:
    response = dashboard.serve(_get("/app/leads"), tmp_path)
    assert response.status == 404
    assert b"make dev" in response.body


def test_only_app_paths_are_the_dashboards() -> None:
    assert dashboard.is_dashboard_path("/app")
    assert dashboard.is_dashboard_path("/app/leads")
    assert not dashboard.is_dashboard_path("/apps")
    assert not dashboard.is_dashboard_path("/leads")

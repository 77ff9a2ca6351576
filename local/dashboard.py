"""Serves the built web dashboard (``dashboard/dist``) under ``/app/`` on the gateway's port.

In AWS the dashboard is an S3 bucket behind CloudFront; locally the gateway hands every request
under ``/app`` to :func:`serve`, which answers as that distribution is configured to:

- a file of the build is returned with its content type; hashed files under ``/app/assets/``
  are cached for a year (``immutable``: a new build has new names), everything else is
  revalidated on each load (``no-cache``), so a rebuilt ``index.html`` is seen at once;
- any other path (a deep link such as ``/app/leads/<id>``) gets ``index.html``, whose router
  shows the page: CloudFront does this with a 403/404 -> ``/app/index.html`` error response;
- a path that leaves the build directory is 404, and without a build the answer says how to
  make one.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from local.http_api import GatewayRequest, GatewayResponse

PREFIX = "/app"
DIST = Path(__file__).resolve().parents[1] / "dashboard" / "dist"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".woff2": "font/woff2",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".map": "application/json",
}


def is_dashboard_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def mount(request: GatewayRequest) -> GatewayResponse | None:
    """The gateway's mount: the dashboard's answer for paths under /app, None for others."""
    return serve(request) if is_dashboard_path(request.path) else None


def serve(request: GatewayRequest, dist: Path = DIST) -> GatewayResponse:

    if request.method not in ("GET", "HEAD"):
        return GatewayResponse.message(405, "the dashboard is read-only")
    if request.path == PREFIX:
        return GatewayResponse(301, [("Location", PREFIX + "/")], b"")
    index = dist / "index.html"
    if not index.is_file():
        return GatewayResponse(
            404,
            [("Content-Type", "text/plain; charset=utf-8")],
            b"The dashboard is not built: run `make dev` or `npm run build` in dashboard/.\n",
        )
    root = dist.resolve()
    relative = request.path[len(PREFIX) + 1 :]
    target = (root / relative).resolve() if relative else index
    if not target.is_relative_to(root):
        return GatewayResponse.message(404, "Not Found")
    if target.is_file():
        return _file(target, IMMUTABLE if relative.startswith("assets/") else REVALIDATE)
    if relative.startswith("assets/"):  # a missing hashed file is a stale page: no HTML for it
        return GatewayResponse.message(404, "Not Found")
    return _file(index, REVALIDATE)


def _file(path: Path, cache_control: str) -> GatewayResponse:

    content_type = _TYPES.get(path.suffix) or (
        mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    )
    headers = [
        ("Content-Type", content_type),
        ("Cache-Control", cache_control),
        ("X-Content-Type-Options", "nosniff"),
    ]
    return GatewayResponse(200, headers, path.read_bytes())

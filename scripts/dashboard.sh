#!/usr/bin/env bash
# The web dashboard's tool chain (dashboard/, Node >= 20 + npm).
#
#   bash scripts/dashboard.sh deps    npm ci, only when package-lock.json changed (stamped)
#   bash scripts/dashboard.sh build   deps, the typed-client check, then `vite build` -> dist/
#   bash scripts/dashboard.sh dev     deps, then the Vite dev server proxying to the local cloud
#
# Used by `make dev` / `make dashboard` / scripts/setup.sh and tests/e2e/test_dashboard.py.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/dashboard"

say() { printf 'dashboard: %s\n' "$*"; }
die() { printf 'dashboard: ERROR: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || die "node is not installed (Node >= 20 and npm are needed)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
    die "node $(node --version) is too old: Node >= 20 is needed"

deps() {
    # The stamp lives inside node_modules: deleting node_modules also forgets it.
    local stamp=node_modules/.crm-npm-ci-stamp want
    want="$(cat package-lock.json | sha256sum | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        say "npm ci: ok (node_modules matches package-lock.json)"
        return
    fi
    say "npm ci ..."
    npm ci --no-audit --no-fund --loglevel=error >/tmp/crm-npm-ci.log 2>&1 ||
        { tail -n 20 /tmp/crm-npm-ci.log >&2; die "npm ci failed (log: /tmp/crm-npm-ci.log)"; }
    echo "$want" >"$stamp"
    say "npm ci: done"
}

case "${1:-build}" in
deps) deps ;;
build)
    deps
    npm run --silent check:api
    npm run --silent build >/tmp/crm-dashboard-build.log 2>&1 ||
        { tail -n 30 /tmp/crm-dashboard-build.log >&2; die "build failed (log: /tmp/crm-dashboard-build.log)"; }
    say "built dashboard/dist"
    ;;
dev)
    deps
    export CRM_API_URL="${CRM_API_URL:-http://127.0.0.1:8765}"
    say "Vite dev server with hot reload; API and /ws proxied to $CRM_API_URL"
    exec npx vite --host 127.0.0.1
    ;;
*) die "unknown command $1 (deps | build | dev)" ;;
esac

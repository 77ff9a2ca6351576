#!/usr/bin/env bash
# One-time (and idempotent) machine + repo set-up for the local cloud and the tests.
#
#   bash scripts/setup.sh        (also run by `make setup`, `make dev`, `make test`, .ci/run)
#
# - apt packages: PostgreSQL server, RabbitMQ, Java 17, Maven, unzip, curl, jq (only when missing)
# - system user `crm`: initdb/pg_ctl and OpenSearch refuse to run as root, so when the
#   supervisor (local/supervisor.py) runs as root it runs those servers as `crm`
# - .venv with Python 3.12 (the Lambda runtime's) and the project's dependencies (re-installed only when
#   pyproject.toml changed; the stamp lives in .venv/.crm-setup-stamp)
# - SAM CLI (aws-sam-cli, pinned) in its own venv .local/sam-cli; actionlint in .local/bin
# - OpenSearch 2.19.6 (integ-test zip from Maven Central) unpacked into .local/opensearch-2.19.6
# - Mailpit v1.33.1 (the local SMTP server with a web UI and API) built by `go install` into
#   .local/bin/mailpit (needs Go; the Go module proxy serves it)
# - the dashboard's npm packages (npm ci, only when dashboard/package-lock.json changed)
#
# Works as root on a fresh Debian 12 with CI=true and no stdin. Prints one line per step and is
# fast (well under 3 s) when everything is already in place.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

OPENSEARCH_VERSION="2.19.6"
OPENSEARCH_ARTIFACT="org.opensearch.distribution.integ-test-zip:opensearch:${OPENSEARCH_VERSION}:zip"
SERVICE_USER="${CRM_SERVICE_USER:-crm}"
# chromium: the system browser the dashboard's Playwright tests drive (Playwright's own
# browser download is not used); jq: the README walk-through reads JSON answers with it
APT_PACKAGES=(postgresql rabbitmq-server openjdk-17-jre-headless maven unzip curl chromium jq)
export DEBIAN_FRONTEND=noninteractive

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=(sudo -n); fi
fi

is_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

apt_install() {
    # Do not let the packages start their system-wide services (system PostgreSQL on 5432,
    # RabbitMQ + epmd on 5672/4369): the project runs its own instances on its own ports.
    local policy=/usr/sbin/policy-rc.d created_policy=0
    if [ ! -e "$policy" ] && [ "$(id -u)" -eq 0 ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && created_policy=1
    fi
    local rc=0
    {
        "${SUDO[@]}" apt-get update -qq &&
            "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "$@" </dev/null
    } >/tmp/crm-setup-apt.log 2>&1 || rc=$?
    if [ "$created_policy" -eq 1 ]; then rm -f "$policy"; fi
    [ "$rc" -eq 0 ] || { tail -n 20 /tmp/crm-setup-apt.log >&2; die "apt-get install $* failed (log: /tmp/crm-setup-apt.log)"; }
}

# --- 1. apt packages ----------------------------------------------------------------------
missing=()
for p in "${APT_PACKAGES[@]}"; do is_installed "$p" || missing+=("$p"); done

# Python 3.12, the Lambda runtime's version (template.yaml: Runtime python3.12): the tests, the
# benchmarks and `sam build` all run on it. Looked up in order: python3.12 on the PATH (a pyenv
# shim counts only when it really runs), then pyenv's versions/3.12.* (newest first), then
# Debian's /usr/bin/python3.12. Debian 12 ships only 3.11, so a machine without pyenv and without
# a python3.12 package stops with a message saying what to install.
WANT_PY="3.12"
python_ok() {
    "$1" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1
}
find_python() {
    local c root
    for c in "${CRM_PYTHON:-}" python3.12; do
        [ -n "$c" ] || continue
        if command -v "$c" >/dev/null 2>&1 && python_ok "$c"; then
            # resolve a pyenv shim to the real interpreter so the venv does not depend on it
            "$c" -c 'import sys; print(sys.executable)'
            return 0
        fi
    done
    root=""
    if command -v pyenv >/dev/null 2>&1; then root="$(pyenv root 2>/dev/null || true)"; fi
    [ -n "$root" ] || root="${PYENV_ROOT:-$HOME/.pyenv}"
    if [ -d "$root/versions" ]; then
        for c in $(ls -d "$root"/versions/3.12.* 2>/dev/null | sort -rV); do
            if [ -x "$c/bin/python3.12" ] && python_ok "$c/bin/python3.12"; then
                echo "$c/bin/python3.12"
                return 0
            fi
        done
    fi
    if [ -x /usr/bin/python3.12 ] && python_ok /usr/bin/python3.12; then
        echo /usr/bin/python3.12
        return 0
    fi
    return 1
}
PYTHON="$(find_python || true)"

if [ "${#missing[@]}" -eq 0 ]; then
    say "apt packages: ok (already installed)"
else
    say "apt packages: installing ${missing[*]} ..."
    if [ "$(id -u)" -ne 0 ] && [ "${#SUDO[@]}" -eq 0 ]; then
        die "missing packages ${missing[*]} and not root (no sudo): install them yourself"
    fi
    apt_install "${missing[@]}"
    say "apt packages: installed ${missing[*]}"
fi

# --- 2. unprivileged service user --------------------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
    say "service user: not root, servers will run as $(id -un)"
elif id -u "$SERVICE_USER" >/dev/null 2>&1; then
    say "service user: ok ($SERVICE_USER exists)"
else
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin "$SERVICE_USER"
    say "service user: created $SERVICE_USER"
fi
if [ "$(id -u)" -eq 0 ]; then
    # The servers run as $SERVICE_USER with their data under $ROOT/.local: every directory
    # above it must be searchable by that user (a clone under /root is not: /root is 0700).
    # Only the search bit (o+x) is added, never read: the directory's listing stays private.
    # Granting it here keeps the one-command contract for clones in 0700 places (mktemp -d).
    d=""
    IFS=/ read -ra parts <<<"${ROOT#/}"
    for part in "${parts[@]}"; do
        d="$d/$part"
        if ! runuser -u "$SERVICE_USER" -- test -x "$d" 2>/dev/null; then
            chmod o+x "$d" || die "user $SERVICE_USER cannot enter $d and chmod o+x failed: clone the repo elsewhere"
            say "granted search (o+x) on $d so $SERVICE_USER can reach .local"
        fi
    done
fi
mkdir -p .local

# --- 3. Python virtualenv ---------------------------------------------------------------
stamp=.venv/.crm-setup-stamp
want="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"
venv_ok() {
    [ -x .venv/bin/python ] &&
        .venv/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1
}
if [ -e .venv ] && ! venv_ok; then
    [ -n "$PYTHON" ] || die "no Python $WANT_PY found (tried \$CRM_PYTHON, python3.12 on the PATH, pyenv's versions/3.12.*, /usr/bin/python3.12): install it, e.g. \`pyenv install 3.12\`, or point CRM_PYTHON at one; .venv was left as it is"
    if [ -L .venv ]; then
        die ".venv is a symlink to a venv that is not Python $WANT_PY: remove the link (rm .venv) and run again"
    fi
    say "venv: .venv is broken or not Python $WANT_PY, recreating"
    rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
    [ -n "$PYTHON" ] || die "no Python $WANT_PY found (tried \$CRM_PYTHON, python3.12 on the PATH, pyenv's versions/3.12.*, /usr/bin/python3.12): install it, e.g. \`pyenv install 3.12\`, or point CRM_PYTHON at one"
    "$PYTHON" -m venv .venv
    say "venv: created .venv with $("$PYTHON" -V 2>&1) ($PYTHON)"
fi
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    say "venv: ok (dependencies up to date with pyproject.toml and constraints.txt)"
else
    say "venv: installing dependencies from pyproject.toml (versions from constraints.txt) ..."
    log=.venv/.crm-pip.log
    export PIP_DISABLE_PIP_VERSION_CHECK=1
    # The exact versions CI and every machine get (a newer pydantic, say, changes the
    # generated OpenAPI document); pyproject.toml keeps the supported ranges.
    export PIP_CONSTRAINT="$ROOT/constraints.txt"
    # The project is not installed as a package (the code is found through PYTHONPATH and
    # pytest's pythonpath: layers/core holds the Lambda layer): install its dependency lists.
    .venv/bin/python - >"$log.deps" <<'PY'
import tomllib

with open("pyproject.toml", "rb") as f:
    project = tomllib.load(f)["project"]
for dep in project.get("dependencies", []) + project.get("optional-dependencies", {}).get("dev", []):
    print(dep)
PY
    mapfile -t deps <"$log.deps"
    .venv/bin/python -m pip install -q "${deps[@]}" >"$log" 2>&1 ||
        { tail -n 20 "$log" >&2; die "pip install failed (log: $log)"; }
    say "venv: installed ${#deps[@]} dependencies (runtime + dev, pinned by constraints.txt)"
    echo "$want" >"$stamp"
fi

# --- 3b. SAM CLI ---------------------------------------------------------------------
# `sam build` / `sam validate --lint` (tests/integration/test_sam_build.py, CI): its own venv,
# since its pins clash with the project's; the same Python 3.12.
SAM_CLI_VERSION="1.170.0"
samdir=.local/sam-cli
if [ -x "$samdir/bin/sam" ] && [ "$(cat "$samdir/.crm-version" 2>/dev/null)" = "$SAM_CLI_VERSION" ]; then
    say "sam cli: ok ($SAM_CLI_VERSION)"
else
    say "sam cli: installing aws-sam-cli==$SAM_CLI_VERSION into $samdir ..."
    rm -rf "$samdir"
    .venv/bin/python -m venv "$samdir"
    PIP_CONSTRAINT= "$samdir/bin/python" -m pip install -q --disable-pip-version-check "aws-sam-cli==$SAM_CLI_VERSION" \
        >/tmp/crm-setup-sam.log 2>&1 ||
        { tail -n 20 /tmp/crm-setup-sam.log >&2; die "pip install aws-sam-cli failed (log: /tmp/crm-setup-sam.log)"; }
    echo "$SAM_CLI_VERSION" >"$samdir/.crm-version"
    say "sam cli: installed $SAM_CLI_VERSION"
fi

# --- 3c. actionlint ---------------------------------------------------------------------
# Lints .github/workflows (tests/unit/test_ci_workflow.py), built from the Go module proxy.
ACTIONLINT_VERSION="v1.7.7"
if [ -x .local/bin/actionlint ] && [ "$(cat .local/bin/.actionlint-version 2>/dev/null)" = "$ACTIONLINT_VERSION" ]; then
    say "actionlint: ok ($ACTIONLINT_VERSION)"
else
    command -v go >/dev/null 2>&1 || die "go is needed to build actionlint (the machine's Go tool chain)"
    say "actionlint: building $ACTIONLINT_VERSION into .local/bin ..."
    mkdir -p .local/bin
    GOBIN="$ROOT/.local/bin" go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION" \
        >/tmp/crm-setup-actionlint.log 2>&1 ||
        { tail -n 20 /tmp/crm-setup-actionlint.log >&2; die "go install actionlint failed (log: /tmp/crm-setup-actionlint.log)"; }
    echo "$ACTIONLINT_VERSION" >.local/bin/.actionlint-version
    say "actionlint: installed $ACTIONLINT_VERSION"
fi

# --- 3d. hey ------------------------------------------------------------------------------
# The HTTP load generator of bench/bench_gateway_load.py (run in smoke mode by make test).
HEY_VERSION="v0.1.4"
if [ -x .local/bin/hey ] && [ "$(cat .local/bin/.hey-version 2>/dev/null)" = "$HEY_VERSION" ]; then
    say "hey: ok ($HEY_VERSION)"
else
    command -v go >/dev/null 2>&1 || die "go is needed to build hey (the machine's Go tool chain)"
    say "hey: building $HEY_VERSION into .local/bin ..."
    mkdir -p .local/bin
    GOBIN="$ROOT/.local/bin" go install "github.com/rakyll/hey@$HEY_VERSION" \
        >/tmp/crm-setup-hey.log 2>&1 ||
        { tail -n 20 /tmp/crm-setup-hey.log >&2; die "go install hey failed (log: /tmp/crm-setup-hey.log)"; }
    echo "$HEY_VERSION" >.local/bin/.hey-version
    say "hey: installed $HEY_VERSION"
fi

# --- 4. OpenSearch --------------------------------------------------------------------
osdir=".local/opensearch-${OPENSEARCH_VERSION}"
if [ -x "$osdir/bin/opensearch" ] && [ -f "$osdir/.crm-complete" ]; then
    say "opensearch: ok ($osdir)"
else
    m2="${MAVEN_REPO:-$HOME/.m2/repository}"
    zip="$m2/org/opensearch/distribution/integ-test-zip/opensearch/${OPENSEARCH_VERSION}/opensearch-${OPENSEARCH_VERSION}.zip"
    if [ ! -f "$zip" ]; then
        say "opensearch: fetching $OPENSEARCH_ARTIFACT from Maven Central ..."
        mvn -B -q dependency:get -Dartifact="$OPENSEARCH_ARTIFACT" -Dtransitive=false </dev/null \
            >/tmp/crm-setup-mvn.log 2>&1 ||
            { tail -n 20 /tmp/crm-setup-mvn.log >&2; die "mvn dependency:get failed (log: /tmp/crm-setup-mvn.log)"; }
    fi
    tmp="$(mktemp -d .local/opensearch-unzip.XXXXXX)"
    unzip -q "$zip" -d "$tmp"
    rm -rf "$osdir"
    mv "$tmp/opensearch-${OPENSEARCH_VERSION}" "$osdir"
    rm -rf "$tmp"
    touch "$osdir/.crm-complete"
    say "opensearch: unpacked into $osdir"
fi
if [ "$(id -u)" -eq 0 ] && [ "$(stat -c %U "$osdir")" != "$SERVICE_USER" ]; then
    chown -R "$SERVICE_USER:" "$osdir"
    say "opensearch: chowned $osdir to $SERVICE_USER"
fi

# --- 5. Mailpit ---------------------------------------------------------------------------
MAILPIT_MODULE="github.com/axllent/mailpit"
MAILPIT_VERSION="v1.33.1"
mailpit_bin=".local/bin/mailpit"
mailpit_stamp=".local/bin/.mailpit-version"
if [ -x "$mailpit_bin" ] && [ "$(cat "$mailpit_stamp" 2>/dev/null)" = "$MAILPIT_VERSION" ]; then
    say "mailpit: ok ($mailpit_bin $MAILPIT_VERSION)"
else
    command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ] ||
        die "Go is needed to install Mailpit ($MAILPIT_MODULE@$MAILPIT_VERSION): install Go, or put a mailpit binary on PATH"
    go_bin="$(command -v go || echo /usr/local/go/bin/go)"
    say "mailpit: go install $MAILPIT_MODULE@$MAILPIT_VERSION ..."
    mkdir -p .local/bin
    GOBIN="$ROOT/.local/bin" "$go_bin" install "$MAILPIT_MODULE@$MAILPIT_VERSION" >/tmp/crm-setup-go.log 2>&1 ||
        { tail -n 20 /tmp/crm-setup-go.log >&2; die "go install mailpit failed (log: /tmp/crm-setup-go.log)"; }
    echo "$MAILPIT_VERSION" >"$mailpit_stamp"
    say "mailpit: installed $mailpit_bin"
fi

# --- 6. dashboard (Node >= 20 + npm) ----------------------------------------------------
if command -v node >/dev/null 2>&1 &&
    node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
    bash scripts/dashboard.sh deps | sed 's/^dashboard: /setup: dashboard: /'
else
    say "dashboard: WARNING no Node >= 20: the dashboard cannot be built and its tests fail"
fi

say "done"

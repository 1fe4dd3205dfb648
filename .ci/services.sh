# shellcheck shell=bash
# Sourced by .ci/test and scripts that need the real peers. Installs what is missing, starts
# Postgres (if down) and an s3s-fs S3 server on a free loopback port, and exports:
#   KEYS_TEST_DATABASE_URL   admin URL; each test creates its own fresh database from it
#   KEYS_TEST_S3_ENDPOINT / _ACCESS_KEY / _SECRET_KEY / _BUCKET
#   KEYS_TEST_SMTP_PYTHON    a Python with aiosmtpd (the mail tests start SMTP servers with it)
#   KEYS_TEST_REQUIRE_SERVICES=1  (a missing peer fails the tests instead of skipping them)
# and stops s3s-fs and drops this run's databases on exit.

set -euo pipefail

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

export PATH="$HOME/.cargo/bin:$PATH"

apt_installed=0
need_apt() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]} (apt)"
    if [ $apt_installed -eq 0 ]; then apt-get update -qq; apt_installed=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

need_apt chromium chromium-driver postgresql postgresql-client bc

if ! command -v s3s-fs >/dev/null 2>&1; then
  say "installing s3s-fs 0.14.1 (once, ~3 min)"
  cargo install s3s-fs@0.14.1 --features binary --locked --quiet
fi

# A real SMTP server for the mail tests: aiosmtpd (PyPI, pinned) in a venv outside the clone;
# each test starts its own on a free loopback port, writing what it receives to a Maildir.
AIOSMTPD_VERSION=1.4.6
MAIL_VENV="${KEYS_MAIL_VENV:-/var/tmp/keys-mail-venv}"
if ! "$MAIL_VENV/bin/python" -c "import aiosmtpd, sys; sys.exit(aiosmtpd.__version__ != '$AIOSMTPD_VERSION')" 2>/dev/null; then
  say "installing aiosmtpd $AIOSMTPD_VERSION into $MAIL_VENV"
  python3 -m venv "$MAIL_VENV"
  "$MAIL_VENV/bin/pip" install --quiet "aiosmtpd==$AIOSMTPD_VERSION"
fi
export KEYS_TEST_SMTP_PYTHON="$MAIL_VENV/bin/python"

# PostgreSQL 15 on 127.0.0.1:5432 (trust auth).
if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  say "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect 15 main start || pg_ctlcluster 15 main start
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
export KEYS_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
# Every test creates its own database named with this run's prefix; only those are dropped at
# the end, so runs side by side do not disturb each other.
export KEYS_TEST_DB_PREFIX="keys_test_$(date +%s)_$$_"

# s3s-fs on a free port.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
S3_PORT=$(free_port)
S3_DIR=$(mktemp -d)
mkdir -p "$S3_DIR/keys-test"
s3s-fs --host 127.0.0.1 --port "$S3_PORT" --access-key keys-ci --secret-key keys-ci-secret "$S3_DIR" >"$S3_DIR.log" 2>&1 &
S3_PID=$!
for _ in $(seq 1 50); do (echo >/dev/tcp/127.0.0.1/"$S3_PORT") 2>/dev/null && break; sleep 0.1; done
export KEYS_TEST_S3_ENDPOINT="http://127.0.0.1:$S3_PORT"
export KEYS_TEST_S3_ACCESS_KEY=keys-ci KEYS_TEST_S3_SECRET_KEY=keys-ci-secret KEYS_TEST_S3_BUCKET=keys-test
export KEYS_TEST_REQUIRE_SERVICES=1

cleanup_services() {
  kill "$S3_PID" 2>/dev/null || true
  rm -rf "$S3_DIR" "$S3_DIR.log"
  for db in $(psql "$KEYS_TEST_DATABASE_URL" -Atc "select datname from pg_database where datname like '${KEYS_TEST_DB_PREFIX}%'" 2>/dev/null); do
    psql "$KEYS_TEST_DATABASE_URL" -qc "drop database if exists $db with (force)" >/dev/null 2>&1 || true
  done
}
trap cleanup_services EXIT

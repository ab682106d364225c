#!/usr/bin/env bash
# Ensures a local PostgreSQL 15 with pgvector and a `groundwork_test` database, for the
# integration tests (*.int.test.ts) and for developers. Idempotent; run as root.
#
#   sudo bash scripts/pg-start.sh
#
# Debian 12 ships pgvector 0.4 only, so pgvector is built from Debian trixie's own source
# package (a Debian-reviewed tarball, fetched and verified by apt) rather than from a git clone.
set -euo pipefail

PG_MAJOR=15
PGVECTOR_WANT=0.8.0
PORT=${PGPORT:-5432}
DB_NAME=${GROUNDWORK_TEST_DB:-groundwork_test}
PG_CONFIG=/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config
VECTOR_CONTROL=/usr/share/postgresql/${PG_MAJOR}/extension/vector.control
TRIXIE_SRC_LIST=/etc/apt/sources.list.d/groundwork-trixie-src.list

log() { echo "[pg-start] $*"; }
die() { echo "[pg-start] ERROR: $*" >&2; exit 1; }
trap 'die "failed at line $LINENO (exit $?): see the output above"' ERR

[ "$(id -u)" -eq 0 ] || die "run as root: it installs packages and manages the PostgreSQL cluster"
command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian/Ubuntu only"
export DEBIAN_FRONTEND=noninteractive
started_at=$(date +%s)

apt_updated=0
apt_update() {
  if [ "$apt_updated" -eq 0 ]; then
    log "apt-get update"
    apt-get update -q >/dev/null
    apt_updated=1
  fi
}
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
as_postgres() { runuser -u postgres -- "$@"; }
psql_local() { as_postgres psql -p "$PORT" -XAtq -v ON_ERROR_STOP=1 "$@"; }

# 1. PostgreSQL 15 installed.
if installed "postgresql-${PG_MAJOR}"; then
  log "postgresql-${PG_MAJOR} is installed ($(dpkg-query -W -f='${Version}' "postgresql-${PG_MAJOR}"))"
else
  apt_update
  log "installing postgresql-${PG_MAJOR}"
  apt-get install -y -q "postgresql-${PG_MAJOR}" >/dev/null
fi

# 2. A cluster that is running.
cluster_status=$(pg_lsclusters -h | awk -v v="$PG_MAJOR" '$1 == v && $2 == "main" { print $4 }')
if [ -z "$cluster_status" ]; then
  log "creating cluster ${PG_MAJOR}/main on port ${PORT}"
  pg_createcluster --port "$PORT" "$PG_MAJOR" main >/dev/null
  cluster_status=down
fi
if [ "$cluster_status" = online ]; then
  log "cluster ${PG_MAJOR}/main is online"
else
  log "starting cluster ${PG_MAJOR}/main"
  pg_ctlcluster --skip-systemctl-redirect "$PG_MAJOR" main start
fi
for _ in $(seq 1 60); do
  pg_isready -q -h 127.0.0.1 -p "$PORT" && break
  sleep 0.5
done
pg_isready -q -h 127.0.0.1 -p "$PORT" || die "PostgreSQL did not become ready on 127.0.0.1:${PORT} (see /var/log/postgresql/postgresql-${PG_MAJOR}-main.log)"
log "PostgreSQL is accepting connections on 127.0.0.1:${PORT}"

# 3. Password-less TCP access for the postgres user from localhost (test machines only).
if psql -h 127.0.0.1 -p "$PORT" -U postgres -w -XAtq -c 'select 1' postgres >/dev/null 2>&1; then
  log "trust auth for postgres@127.0.0.1 works"
else
  hba=$(psql_local -c 'show hba_file')
  log "adding trust rules for 127.0.0.1 and ::1 at the top of ${hba} (a test machine setting: never do this on a shared host)"
  cp "$hba" "${hba}.groundwork.bak"
  { echo "# added by groundwork scripts/pg-start.sh (test machine)"
    echo "host all postgres 127.0.0.1/32 trust"
    echo "host all postgres ::1/128 trust"
    cat "${hba}.groundwork.bak"; } >"$hba"
  psql_local -c 'select pg_reload_conf()' >/dev/null
  sleep 0.5
  psql -h 127.0.0.1 -p "$PORT" -U postgres -w -XAtq -c 'select 1' postgres >/dev/null \
    || die "still cannot connect as postgres@127.0.0.1 without a password; check ${hba}"
fi

# 4. pgvector.
if [ -f "$VECTOR_CONTROL" ]; then
  log "pgvector is installed ($(grep -E "^default_version" "$VECTOR_CONTROL" | tr -d "' "))"
else
  log "pgvector is missing: building ${PGVECTOR_WANT} from Debian trixie's source package"
  echo "deb-src http://deb.debian.org/debian trixie main" >"$TRIXIE_SRC_LIST"
  apt_updated=0
  apt_update
  log "installing build tools: build-essential postgresql-server-dev-${PG_MAJOR} dpkg-dev"
  apt-get install -y -q build-essential "postgresql-server-dev-${PG_MAJOR}" dpkg-dev >/dev/null
  available=$(apt-cache showsrc pgvector | awk '/^Version:/ { print $2 }' | sort -V | tail -n1)
  log "Debian source package pgvector available in version ${available:-none}"
  case "$available" in
    "${PGVECTOR_WANT}"-*) ;;
    0.8.*) log "note: expected ${PGVECTOR_WANT}, building ${available} (same minor series)" ;;
    *) die "expected pgvector ${PGVECTOR_WANT} in Debian trixie sources, found '${available:-nothing}'" ;;
  esac
  workdir=$(mktemp -d /tmp/groundwork-pgvector.XXXXXX)
  chmod 755 "$workdir"
  (
    cd "$workdir"
    log "apt-get source pgvector=${available} (in ${workdir})"
    # -o Sandbox: root without the _apt user dance; the download is still checked against the signed index.
    apt-get source -q -o APT::Sandbox::User=root "pgvector=${available}" >/dev/null 2>&1 \
      || apt-get source -q "pgvector=${available}"
    srcdir=$(find . -maxdepth 1 -type d -name 'pgvector-*' | head -n1)
    [ -n "$srcdir" ] || die "apt-get source did not unpack a pgvector-* folder"
    grep -q "default_version = '${available%%-*}'" "$srcdir/vector.control" \
      || die "unpacked sources are not pgvector ${available%%-*}: $(grep default_version "$srcdir/vector.control")"
    log "building ${srcdir#./} with ${PG_CONFIG}"
    make -C "$srcdir" -s -j"$(nproc)" PG_CONFIG="$PG_CONFIG" >/dev/null
    make -C "$srcdir" -s install PG_CONFIG="$PG_CONFIG" >/dev/null
  )
  rm -rf "$workdir"
  # The trixie source index is only needed for this one build; keep later apt updates fast.
  rm -f "$TRIXIE_SRC_LIST"
  [ -f "$VECTOR_CONTROL" ] || die "make install did not produce ${VECTOR_CONTROL}"
  log "pgvector installed ($(grep -E "^default_version" "$VECTOR_CONTROL" | tr -d "' "))"
fi

# 5. The test database, and a check that the extension really loads there.
if [ "$(psql_local -d postgres -c "select 1 from pg_database where datname = '${DB_NAME}'")" = "1" ]; then
  log "database ${DB_NAME} exists"
else
  log "creating database ${DB_NAME}"
  as_postgres createdb -p "$PORT" "$DB_NAME"
fi
# Loading the library in a rolled-back transaction proves the .so matches the server.
psql_local -d "$DB_NAME" -c "begin; create extension if not exists vector; select '[1,2]'::vector <-> '[1,3]'::vector; rollback;" >/dev/null \
  || die "pgvector is installed but 'create extension vector' fails in ${DB_NAME}"
log "pgvector loads in ${DB_NAME}"

log "ready in $(( $(date +%s) - started_at ))s: postgres://postgres@127.0.0.1:${PORT}/${DB_NAME}"

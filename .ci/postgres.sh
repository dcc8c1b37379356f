# PostgreSQL for CI, sourced by .ci/run: `start_postgres` installs PostgreSQL from Debian's
# packages if it is missing, starts one throwaway server for the whole run (a temporary data
# folder, 127.0.0.1 on a free port and a Unix socket in that folder, trust authentication for
# local connections, fsync settings left at their defaults) and exports ANNALS_TEST_POSTGRES,
# on which each test file makes a database of its own (test/helpers/postgres.ts).
# `stop_postgres` stops it and removes the folder; .ci/run calls it on exit.

postgres_bin () {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

start_postgres () {
  local bin
  bin="$(postgres_bin)"
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "installing PostgreSQL from Debian's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    bin="$(postgres_bin)"
  fi
  PG_CI_DIR="$(mktemp -d /tmp/annals-ci-pg-XXXXXX)"
  PG_CI_BIN="$bin"
  # initdb refuses to run as root: the server runs as the user postgres (made by the package)
  PG_CI_AS=()
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$PG_CI_DIR"
    PG_CI_AS=(runuser -u postgres --)
  fi
  "${PG_CI_AS[@]}" "$bin/initdb" -D "$PG_CI_DIR/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C >"$PG_CI_DIR/initdb.log" 2>&1 \
    || { cat "$PG_CI_DIR/initdb.log"; return 1; }
  local port attempt
  for attempt in 1 2 3; do
    port="$(node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close() })")"
    # 4 test files at a time, each with pools of its own: more connections than the default 100
    if "${PG_CI_AS[@]}" "$bin/pg_ctl" -D "$PG_CI_DIR/data" -l "$PG_CI_DIR/log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$PG_CI_DIR -c max_connections=300" start >/dev/null; then
      export ANNALS_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres"
      echo "PostgreSQL $("$bin/postgres" --version | awk '{ print $3 }') for the tests at $ANNALS_TEST_POSTGRES"
      return 0
    fi
  done
  cat "$PG_CI_DIR/log"
  return 1
}

stop_postgres () {
  if [ -n "${PG_CI_DIR:-}" ] && [ -d "$PG_CI_DIR" ]; then
    "${PG_CI_AS[@]}" "$PG_CI_BIN/pg_ctl" -D "$PG_CI_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_CI_DIR"
  fi
}

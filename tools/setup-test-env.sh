#!/usr/bin/env bash
# Sets up what `make test` needs on a Debian machine, and only what is
# missing: Debian's Chromium (browser tests), redis-server (the real Redis,
# and the Sentinel and Cluster the tests start from it), Node.js 20 or later
# and every npm folder of the repository (`npm ci` where the lock file is
# newer than node_modules), then starts Redis at 127.0.0.1:6379 and
# PostgreSQL at 127.0.0.1:5432 when they are not answering. With everything
# in place it prints nothing and takes a few tens of milliseconds; otherwise
# one line per thing it installs or starts. Installing needs root: it uses
# sudo when it is not root, and says what to install when there is no sudo.
#
#   --dry-run   say what would be done, do nothing
#
# OVERBLIK_SETUP_REDIS_PORT and OVERBLIK_SETUP_PG_PORT (6379, 5432) exist to
# test this script against servers of its own.
set -euo pipefail
cd "$(dirname "$0")/.."

dry=false
case "${1:-}" in
--dry-run) dry=true ;;
"") ;;
*) echo "usage: $0 [--dry-run]" >&2; exit 2 ;;
esac
redis_port=${OVERBLIK_SETUP_REDIS_PORT:-6379}
pg_port=${OVERBLIK_SETUP_PG_PORT:-5432}

say() { echo "setup-test-env: $*"; }
die() { echo "setup-test-env: $*" >&2; exit 1; }
has() { command -v "$1" >/dev/null 2>&1; }
shown() { printf '%q ' "$@"; }

# as_root runs a command as root: directly, with sudo, or not at all.
as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif has sudo; then
    sudo "$@"
  else
    return 1
  fi
}
can_be_root() { [ "$(id -u)" = 0 ] || has sudo; }

# quietly runs a command with its output in a log, shown only if it fails.
quietly() {
  local log
  log=$(mktemp)
  if ! "$@" >"$log" 2>&1; then
    echo "setup-test-env: failed: $*" >&2
    tail -n 40 "$log" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
}

# --- Debian packages -------------------------------------------------------

installed_postgres=false

# apt_install installs Debian packages quietly, updating the lists once a run.
apt_install() {
  if $dry; then
    say "would install $* (Debian packages)"
    return
  fi
  has apt-get || die "the tests need $*, and this is no Debian machine: install them, then run make test again"
  can_be_root || die "the tests need the Debian packages $*: run 'apt-get install $*' as root (there is no sudo here), then make test again"
  say "installing $* (Debian packages)"
  if [ -z "${apt_updated:-}" ]; then
    quietly as_root apt-get update -qq
    apt_updated=1
  fi
  quietly as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
  for p in "$@"; do
    if [ "$p" = postgresql ]; then installed_postgres=true; fi
  done
}

# The npm folders: every package-lock.json outside node_modules.
npm_dirs=()
while IFS= read -r lock; do
  npm_dirs+=("$(dirname "$lock")")
done < <(find . \( -name node_modules -o -name .git \) -prune -o -name package-lock.json -print | sort)

# The commands the tests need, each with the Debian package that brings it
# (chromedp drives Chromium itself: no chromium-driver).
needs=(chromium:chromium redis-server:redis-server redis-cli:redis-tools pg_ctlcluster:postgresql pg_isready:postgresql-client)
if [ ${#npm_dirs[@]} -gt 0 ]; then needs+=(node:nodejs); fi
missing() {
  local n
  for n in "${needs[@]}"; do
    has "${n%%:*}" || echo "${n#*:}"
  done
}
mapfile -t pkgs < <(missing)
if [ ${#pkgs[@]} -gt 0 ]; then apt_install "${pkgs[@]}"; fi
# NodeSource's nodejs brings npm; Debian's comes without.
if [ ${#npm_dirs[@]} -gt 0 ] && ! $dry && ! has npm; then apt_install npm; fi
if ! $dry; then
  mapfile -t pkgs < <(missing)
  if [ ${#pkgs[@]} -gt 0 ]; then die "still missing after apt-get install: ${pkgs[*]}"; fi
fi

# --- npm packages ----------------------------------------------------------

node_checked=false
for d in "${npm_dirs[@]}"; do
  # npm ci writes node_modules/.package-lock.json; a lock file or package.json
  # newer than it (a pull that changed them) means install again.
  stamp=$d/node_modules/.package-lock.json
  if [ -f "$stamp" ] && [ ! "$d/package-lock.json" -nt "$stamp" ] && [ ! "$d/package.json" -nt "$stamp" ]; then
    continue
  fi
  if $dry; then
    say "would install the npm packages of ${d#./} (npm ci)"
    continue
  fi
  if ! $node_checked; then
    node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
      die "the npm packages need Node.js 20 or later; found $(node --version)"
    node_checked=true
  fi
  say "installing the npm packages of ${d#./} (npm ci)"
  quietly npm ci --prefix "$d" --no-audit --no-fund --loglevel=error
done

# --- services --------------------------------------------------------------

# redis_up sends PING itself: bash's /dev/tcp costs nothing, redis-cli a process.
redis_up() {
  local reply=
  { exec 3<>"/dev/tcp/127.0.0.1/$redis_port"; } 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  IFS= read -r -t 2 reply <&3 || true
  exec 3<&-
  [ "${reply%$'\r'}" = +PONG ]
}
# pg_listens is the quick look; pg_up (Debian's pg_isready is a Perl wrapper)
# is for waiting on a server that is starting.
pg_listens() {
  { exec 3<>"/dev/tcp/127.0.0.1/$pg_port"; } 2>/dev/null || return 1
  exec 3<&-
}
pg_up() { pg_isready -q -h 127.0.0.1 -p "$pg_port" 2>/dev/null; }

# wait_for polls a check for up to 30 s.
wait_for() {
  for _ in $(seq 1 150); do
    "$1" && return 0
    sleep 0.2
  done
  return 1
}

if ! redis_up; then
  # The machine's own command (see the machine's notes), where its folders
  # are ours to write; a developer's Redis keeps its files in a cache folder.
  dir=/var/lib/redis log=/var/log/redis/ci.log
  if [ "$redis_port" != 6379 ]; then
    log=/var/log/redis/ci-$redis_port.log
  fi
  if ! [ -w "$dir" ] || ! [ -w "$(dirname "$log")" ]; then
    dir=${XDG_CACHE_HOME:-$HOME/.cache}/overblik-redis-$redis_port log=$dir/redis.log
  fi
  cmd=(redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$redis_port" --save "" --appendonly no --dir "$dir" --logfile "$log")
  if $dry; then
    say "would start Redis on 127.0.0.1:$redis_port: $(shown "${cmd[@]}")"
  else
    say "starting Redis on 127.0.0.1:$redis_port"
    mkdir -p "$dir"
    quietly "${cmd[@]}"
    wait_for redis_up || die "Redis did not answer on 127.0.0.1:$redis_port after starting; see $log"
  fi
fi

pg_started=false
if ! pg_listens; then
  # The cluster that listens on the port, started as the machine starts it.
  read -r pg_version pg_cluster _ < <(pg_lsclusters -h 2>/dev/null | awk -v p="$pg_port" '$3 == p') || true
  [ -n "${pg_cluster:-}" ] ||
    die "PostgreSQL is not answering on 127.0.0.1:$pg_port and no cluster is set up for that port (pg_lsclusters): create one, e.g. 'pg_createcluster 15 main -p $pg_port'"
  cmd=(pg_ctlcluster --skip-systemctl-redirect "$pg_version" "$pg_cluster" start)
  if $dry; then
    say "would start PostgreSQL on 127.0.0.1:$pg_port: $(shown "${cmd[@]}")"
  else
    can_be_root || die "PostgreSQL is not answering on 127.0.0.1:$pg_port: start it as root with '$(shown "${cmd[@]}")'"
    say "starting PostgreSQL $pg_version/$pg_cluster on 127.0.0.1:$pg_port"
    quietly as_root "${cmd[@]}"
    wait_for pg_up || die "PostgreSQL did not answer on 127.0.0.1:$pg_port after starting; see /var/log/postgresql/"
    pg_started=true
  fi
fi

# The tests log in as postgres without a password to the database test: see
# to it on a server this script installed or started (a server that was
# running already is left as it is).
if ! $dry && { $pg_started || $installed_postgres; } && ! psql -X -q -w -h 127.0.0.1 -p "$pg_port" -U postgres -d test -Atc 'select 1' >/dev/null 2>&1; then
  if $installed_postgres; then
    # A fresh Debian cluster asks for a password on TCP: trust loopback, as
    # the machines the tests are written for do.
    say "letting postgres in from loopback without a password (pg_hba.conf)"
    hba=$(as_root runuser -u postgres -- psql -X -At -p "$pg_port" -c 'show hba_file')
    as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    quietly as_root runuser -u postgres -- psql -X -q -p "$pg_port" -c 'select pg_reload_conf()'
  fi
  if psql -X -q -w -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
    say "creating the database test"
    quietly createdb -w -h 127.0.0.1 -p "$pg_port" -U postgres test
  else
    die "PostgreSQL at 127.0.0.1:$pg_port does not let user postgres in without a password: the tests need trust auth for loopback (pg_hba.conf) and a database test"
  fi
fi

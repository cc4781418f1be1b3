#!/usr/bin/env bash
# A private Rollcall instance for the LDAP comparison with slapd (bench harness in
# ../shared/bench next to this repository). Everything lives in $RC_DIR; nothing else is touched.
#
#   rollcall.sh load DATADIR   stop, wipe, start fresh, ldapadd DATADIR/rollcall.ldif (timed),
#                              make cn=reader an Administrators member
#                              (DATADIR = gen.py --no-operational output after to_rollcall.py)
#   rollcall.sh start          start on the existing data
#   rollcall.sh stop           stop by PID file
#   rollcall.sh status         PID, RSS
#
# Settings (environment):
#   RC_DIR     instance dir (config, data, log, pid)   default /tmp/rcbench
#   RC_BIN     binary                                  default <repo>/target/release/rollcall
#   RC_LDAP    LDAP address                            default 127.0.0.1:3890
#   RC_HTTP    HTTP address                            default 127.0.0.1:18080
#   RC_LDAPS   LDAPS address                           default 127.0.0.1:16360
#   ROLLCALL_LOG  log filter (Rollcall's default "info" logs nothing per operation)
set -euo pipefail

DIR=${RC_DIR:-/tmp/rcbench}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${RC_BIN:-$REPO/target/release/rollcall}
LDAP=${RC_LDAP:-127.0.0.1:3890}
HTTP=${RC_HTTP:-127.0.0.1:18080}
LDAPS=${RC_LDAPS:-127.0.0.1:16360}
URL="ldap://$LDAP"
ADMIN_DN="uid=admin,ou=people,dc=example,dc=com"
ADMIN_PW="Admin-Pass-123"
PIDFILE="$DIR/rollcall.pid"

die() { echo "rollcall.sh: $*" >&2; exit 1; }

write_conf() {
  mkdir -p "$DIR"
  cat >"$DIR/rollcall.toml" <<EOF
[licenses]
employee = 1000000
[ldap]
size_limit = 0
EOF
}

pid_alive() {
  [ -f "$PIDFILE" ] || return 1
  local pid; pid=$(cat "$PIDFILE")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q rollcall "/proc/$pid/cmdline" 2>/dev/null
}

do_stop() {
  if pid_alive; then
    local pid; pid=$(cat "$PIDFILE")
    kill -TERM "$pid"
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && die "rollcall $pid did not stop within 30 s"
    echo "stopped rollcall pid $pid"
  else
    echo "rollcall not running"
  fi
  rm -f "$PIDFILE"
}

do_start() {
  pid_alive && { echo "already running: pid $(cat "$PIDFILE") $URL"; return 0; }
  [ -f "$DIR/rollcall.toml" ] || write_conf
  ROLLCALL_BOOTSTRAP_ADMIN_PASSWORD="$ADMIN_PW" setsid "$BIN" serve --config "$DIR/rollcall.toml" \
    --data "$DIR/data" --http "$HTTP" --ldap "$LDAP" --ldaps "$LDAPS" \
    >>"$DIR/rollcall.log" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 600); do
    if ldapwhoami -x -H "$URL" -D "$ADMIN_DN" -w "$ADMIN_PW" >/dev/null 2>&1; then
      echo "rollcall pid $(cat "$PIDFILE") listening on $URL"
      return 0
    fi
    pid_alive || { tail -20 "$DIR/rollcall.log" >&2; die "rollcall exited"; }
    sleep 0.1
  done
  die "rollcall did not answer on $URL within 60 s"
}

do_load() {
  local d=$1 ldif=$1/rollcall.ldif
  [ -f "$ldif" ] || die "no $ldif: run to_rollcall.py $d first"
  do_stop >/dev/null
  rm -rf "$DIR/data" "$DIR/rollcall.log"
  write_conf
  do_start
  local n t0 t1 secs
  n=$(grep -c '^dn: ' "$ldif")
  local pid; pid=$(cat "$PIDFILE")
  local st0 st1 sc0 sc1
  st0=$(awk '/^cpu /{print $2+$3+$4+$7+$8, $9}' /proc/stat)
  sc0=$(awk '{print $14+$15}' "/proc/$pid/stat")
  t0=$(date +%s.%N)
  ldapadd -x -c -H "$URL" -D "$ADMIN_DN" -w "$ADMIN_PW" -f "$ldif" >"$DIR/ldapadd.out" 2>"$DIR/ldapadd.err" || true
  t1=$(date +%s.%N)
  st1=$(awk '/^cpu /{print $2+$3+$4+$7+$8, $9}' /proc/stat)
  sc1=$(awk '{print $14+$15}' "/proc/$pid/stat")
  ldapmodify -x -H "$URL" -D "$ADMIN_DN" -w "$ADMIN_PW" -f "$d/rollcall-reader.ldif" >/dev/null
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')
  local errs; errs=$(grep -c '^ldap_add:' "$DIR/ldapadd.err" || true)
  local size; size=$(du -sm "$DIR/data" | cut -f1)
  echo "ldapadd: $n entries in $secs s ($(awk -v n="$n" -v s="$secs" 'BEGIN{printf "%.0f", n/s}') entries/s), $errs errors (see $DIR/ldapadd.err), data ${size} MiB, rss_kib=$(awk '/VmRSS/{print $2}' /proc/$pid/status)" | tee "$DIR/load.time"
  # CPU seconds during the load (ticks are 1/100 s): machine busy, rollcall, steal
  echo "$st0 $st1 $sc0 $sc1 $secs" | awk '{printf "cpu during load: machine busy %.1f s, rollcall %.1f s, steal %.1f s over %.1f s wall\n", ($3-$1)/100, ($6-$5)/100, ($4-$2)/100, $7}' | tee -a "$DIR/load.time"
}

do_status() {
  if pid_alive; then
    local pid; pid=$(cat "$PIDFILE")
    echo "running: pid $pid $URL rss_kib=$(awk '/VmRSS/{print $2}' /proc/$pid/status) hwm_kib=$(awk '/VmHWM/{print $2}' /proc/$pid/status)"
  else
    echo "not running"; return 1
  fi
}

case "${1:-}" in
  load)   [ $# -eq 2 ] || die "usage: $0 load DATADIR"; do_load "$2" ;;
  start)  do_start ;;
  stop)   do_stop ;;
  status) do_status ;;
  *) sed -n '2,18p' "$0"; exit 2 ;;
esac

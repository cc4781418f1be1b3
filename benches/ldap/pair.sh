#!/usr/bin/env bash
# Run ldapbench against slapd and Rollcall back to back, cell by cell (mode x concurrency x rep),
# appending ldapbench's JSON lines (labels "slapd" / "rollcall") to one file.
#
#   pair.sh --manifest /tmp/ldapbench-data/u100000/manifest.json --out /tmp/rcbench-runs/u100k.jsonl \
#       --modes "search-eq bind" --conc "1 4 16" --reps 2
#
# Both servers must be running: slapd from ../shared/bench/slapd/run-slapd.sh (PID file
# $SLAPD_DIR/slapd.pid, ldap://127.0.0.1:3891), Rollcall from rollcall.sh ($RC_DIR/rollcall.pid,
# ldap://127.0.0.1:3890). Same client options for both (ldapbench defaults: --client raw
# --threads 1); 2 s warm-up + 10 s measured, like RESULTS-slapd.md. Before each run waits up to
# --quiet-max s for the machine to be idle (< 0.2 busy CPU-s/s), then runs anyway; every line
# records other_cpu_s and steal_cpu_s. Within a cell the order alternates by rep
# (rep 1: slapd then rollcall, rep 2: rollcall then slapd, ...).
set -euo pipefail
BENCH=${BENCH:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/bench}
BIN="$BENCH/ldapbench/target/release/ldapbench"
SLAPD_PIDFILE=${SLAPD_DIR:-/tmp/ldapbench-slapd}/slapd.pid
RC_PIDFILE=${RC_DIR:-/tmp/rcbench}/rollcall.pid
MANIFEST="" OUT="" MODES="search-eq bind search-group search-sub" CONC="1 4 16"
REPS=2 DURATION=10 WARMUP=2 QUIET_MAX=60 SERVERS="slapd rollcall"
while [ $# -gt 0 ]; do
  case "$1" in
    --manifest) MANIFEST=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --modes) MODES=$2; shift 2 ;;
    --conc) CONC=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --quiet-max) QUIET_MAX=$2; shift 2 ;;
    --servers) SERVERS=$2; shift 2 ;;
    *) sed -n '2,16p' "$0"; exit 2 ;;
  esac
done
[ -n "$MANIFEST" ] && [ -n "$OUT" ] || { echo "--manifest and --out are required" >&2; exit 2; }
mkdir -p "$(dirname "$OUT")"

busy_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }
wait_quiet() {
  local waited=0 a b
  while :; do
    a=$(busy_ticks); sleep 2; b=$(busy_ticks)
    [ $((b - a)) -lt 40 ] && return 0
    waited=$((waited + 2))
    [ "$waited" -ge "$QUIET_MAX" ] && { echo "pair: still busy after ${QUIET_MAX}s; running anyway" >&2; return 0; }
  done
}

run_one() {  # server mode conc rep
  local srv=$1 mode=$2 c=$3 rep=$4 args
  if [ "$srv" = slapd ]; then
    args=(--url ldap://127.0.0.1:3891 --server-pid "$(cat "$SLAPD_PIDFILE")")
  else
    args=(--url ldap://127.0.0.1:3890 --server-pid "$(cat "$RC_PIDFILE")"
          --groups-base ou=roles,dc=example,dc=com
          -D cn=reader,ou=services,dc=example,dc=com -W 'Reader-Pass-01!')
  fi
  wait_quiet
  "$BIN" --manifest "$MANIFEST" --mode "$mode" -c "$c" --duration "$DURATION" --warmup "$WARMUP" \
    --seed "$rep" --label "$srv" "${args[@]}" 2>>"$OUT.stderr" | tee -a "$OUT"
}

for mode in $MODES; do
  for c in $CONC; do
    for rep in $(seq 1 "$REPS"); do
      order=$SERVERS
      [ $((rep % 2)) -eq 0 ] && order=$(echo "$SERVERS" | tr ' ' '\n' | tac | tr '\n' ' ')
      for srv in $order; do run_one "$srv" "$mode" "$c" "$rep"; done
    done
  done
done

#!/usr/bin/env bash
# Server memory during one large search: every entry under ou=people, all user attributes
# (slapd: as rootdn, Rollcall: as the reader), unpaged (one result set) and then paged (1000 per page). Samples the server's
# RSS every 0.2 s and prints time, entry count, RSS before / max during / after.
#
#   bigsearch.sh slapd    (ldap://127.0.0.1:3891, PID from $SLAPD_DIR/slapd.pid)
#   bigsearch.sh rollcall (ldap://127.0.0.1:3890, PID from $RC_DIR/rollcall.pid)
set -euo pipefail
case "${1:-}" in
  # slapd: the rootdn, since slapd's default sizelimit (500) applies to the reader
  slapd)    URL=ldap://127.0.0.1:3891; PID=$(cat "${SLAPD_DIR:-/tmp/ldapbench-slapd}/slapd.pid")
            WHO=(-D cn=admin,dc=example,dc=com -w admin) ;;
  # Rollcall: the reader (size_limit = 0 in the benchmark config)
  rollcall) URL=ldap://127.0.0.1:3890; PID=$(cat "${RC_DIR:-/tmp/rcbench}/rollcall.pid")
            WHO=(-D cn=reader,ou=services,dc=example,dc=com -w 'Reader-Pass-01!') ;;
  *) sed -n '2,8p' "$0"; exit 2 ;;
esac
rss() { awk '/VmRSS/{print $2}' "/proc/$PID/status"; }
run() {  # label, extra ldapsearch args...
  local label=$1; shift
  local before max=0 t0 t1 n spid
  before=$(rss)
  t0=$(date +%s.%N)
  ldapsearch -x -LLL -H "$URL" "${WHO[@]}" \
    -b ou=people,dc=example,dc=com "$@" '(objectClass=*)' '*' >/tmp/bigsearch.$$.out 2>&1 &
  spid=$!
  while kill -0 "$spid" 2>/dev/null; do
    local r; r=$(rss); [ "$r" -gt "$max" ] && max=$r
    sleep 0.2
  done
  wait "$spid" || true
  t1=$(date +%s.%N)
  n=$(grep -c '^dn: ' /tmp/bigsearch.$$.out || true)
  echo "$label: $n entries in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s;" \
    "server RSS before $((before / 1024)) MiB, max during $((max / 1024)) MiB, after $(( $(rss) / 1024 )) MiB" \
    "; $(grep -v '^\(dn\|[a-zA-Z]*\):\|^$\|^ ' /tmp/bigsearch.$$.out | head -2 | tr '\n' ' ')"
  rm -f /tmp/bigsearch.$$.out
}
SERVER=$1
run "$SERVER unpaged"
run "$SERVER paged-1000" -E pr=1000/noprompt

#!/usr/bin/env python3
"""Side-by-side Markdown table (slapd vs Rollcall) from pair.sh's JSON lines, with ratios.

    python3 compare.py /tmp/rcbench-runs/u100k.jsonl [more.jsonl ...]

Per (mode, concurrency) and server: the median run by ops/s, of two the better one, as
table.py and RESULTS-slapd.md do (all repetitions kept, including
runs with other load; the worst other-load and steal among the runs are shown so a disturbed
cell is visible). Ratio = Rollcall / slapd for ops/s and p99 (p99 ratio > 1: Rollcall slower).
RSS is the server's at the end of the measured window (KiB in the JSON, MiB here).
"""
import json
import sys
from collections import defaultdict

ORDER = ["search-eq", "bind", "search-group", "search-sub", "mixed"]


def main() -> None:
    runs = defaultdict(list)
    for path in sys.argv[1:]:
        for line in open(path):
            line = line.strip()
            if line.startswith("{"):
                r = json.loads(line)
                runs[(r["mode"], r["concurrency"], r["label"])].append(r)
    cells = sorted({(m, c) for (m, c, _) in runs},
                   key=lambda k: (ORDER.index(k[0]) if k[0] in ORDER else 99, k[1]))
    head = ["mode", "conc", "server", "ops/s (median)", "range", "p50 ms", "p99 ms", "errors",
            "runs", "srv CPU s/s", "RSS MiB", "other CPU s/s (max)", "steal s/s (max)",
            "ratio ops/s", "ratio p99"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for mode, c in cells:
        med = {}
        for srv in ("slapd", "rollcall"):
            rs = sorted(runs.get((mode, c, srv), []), key=lambda r: r["ops_per_s"])
            if not rs:
                continue
            m = rs[len(rs) // 2]  # median; of two runs the better one (as table.py)
            med[srv] = m
            rng = f"{rs[0]['ops_per_s']:.0f}-{rs[-1]['ops_per_s']:.0f}" if len(rs) > 1 else "-"
            other = max(r.get("other_cpu_s", 0) / r["seconds"] for r in rs)
            steal = max(r.get("steal_cpu_s", 0) / r["seconds"] for r in rs)
            ratio_ops = ratio_p99 = ""
            if srv == "rollcall" and "slapd" in med:
                s = med["slapd"]
                ratio_ops = f"**{m['ops_per_s'] / s['ops_per_s']:.2f}**" if s["ops_per_s"] else "-"
                ratio_p99 = (f"{m['p99_ms'] / s['p99_ms']:.2f}"
                             if s["p99_ms"] and m["ops"] else "-")
            ops = f"{m['ops_per_s']:.1f}" if m["ops_per_s"] < 100 else f"{m['ops_per_s']:.0f}"
            print("| " + " | ".join([
                mode, str(c), srv, ops, rng, f"{m['p50_ms']:.2f}", f"{m['p99_ms']:.2f}",
                str(sum(r["errors"] for r in rs)), str(len(rs)),
                f"{m['server_cpu_s'] / m['seconds']:.2f}" if "server_cpu_s" in m else "-",
                f"{m['server_rss_kib'] / 1024:.0f}" if "server_rss_kib" in m else "-",
                f"{other:.2f}", f"{steal:.2f}", ratio_ops, ratio_p99]) + " |")


if __name__ == "__main__":
    main()

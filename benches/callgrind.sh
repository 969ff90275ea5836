#!/usr/bin/env bash
# Instructions per customer under `valgrind --tool=callgrind`: the issue-16
# speed targets, measured in a unit that does not drift with the load of a
# shared machine (wall-clock figures are benches/compare.sh's job).
#
# Measured, each as one table row and one JSON line (`{"measure": ...}`):
#   plain      M/M/4 at rho 0.9 (lambda 3.6/s, mean service 1 s, the
#              reference's `limit --servers 4 --lambda 3.6 --mu 1.0`):
#              the whole CLI (`faultline run --no-charts`: parsing, the
#              run, every output file; and once more with the charts, whose
#              cost grows with the bins drawn), the engine + metrics (the engine bench's `plain`
#              variant, no parsing or output), the reference `limit`;
#              ratios against `limit`.
#   timeouts   the same queue with a 10 s client timeout on every request
#              and a 1 s health check (a balancer in front of the node),
#              against `limit_generic --timeout 10` (health every 1 s by
#              default): the whole CLI, the engine + metrics on the same
#              scenario file, and the bench's `timeouts` variant (the
#              timeout without the health check).
#   heap       models/retry-storm.toml (the collapsed cascade) through the
#              engine + metrics: the share of all instructions spent in
#              src/engine/heap.rs (or the files HEAP_FILES names,
#              space-separated), by source line, so the heap's inlined code
#              counts wherever it was inlined. A lower bound: std code the
#              heap inlines (slice indexing, swaps) is attributed to std's
#              files, not to heap.rs.
#   nodes      instructions per request through a least-outstanding
#              balancer over 3 and over 3,000 single-worker nodes at rho
#              0.9 (the bench's `lo3` / `lo3000`, rate scaled with the
#              nodes), and their ratio.
#
# Startup (parsing, allocation, output headers, charts' fixed cost) is
# subtracted by running every program at two customer counts and dividing
# the difference in instructions by the difference in customers:
#   per customer = (Ir(N2) - Ir(N1)) / (N2 - N1).
# Customers are the nominal count (the rate times the simulated duration for
# faultline, exactly --customers for the reference); a Poisson count differs
# from it by about sqrt(N), 0.2% of the difference at the default sizes.
# The heap share is a whole-run fraction (it has nothing to subtract).
#
# Builds what it needs first: faultline (release), the engine bench (bench
# profile: release with debug info) and the reference loops, which
# ../shared/reference/run.sh builds in a copy outside shared/.
#
# Usage: benches/callgrind.sh [N1] [N2]   (default 100000 200000; about 3
# minutes on the project's 2-core machine). FAULTLINE=path and BENCH=path
# measure given binaries instead of building them (e.g. an older build kept
# for a before/after comparison).
set -euo pipefail
cd "$(dirname "$0")/.."
n1=${1:-100000}
n2=${2:-200000}
work=$(mktemp -d "${TMPDIR:-/tmp}/faultline-callgrind.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- build ---------------------------------------------------------------
# The bench first: it builds the faultline binary too (bench profile), and
# the release build after it leaves target/release/faultline a release one.
# Paths come from cargo's own messages, not from guessing hashes.
executable() { python3 -c '
import json, sys
want = sys.argv[1]
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == want and m.get("executable"):
        # The last one: the bench build also makes a faultline binary, and
        # the release build after it puts the release one back in place.
        path = m["executable"]
print(path)' "$1"; }
bench=${BENCH:-$(cargo bench --bench engine --no-run --message-format=json | executable engine)}
faultline=${FAULTLINE:-$(cargo build --release --bin faultline --message-format=json | executable faultline)}
ref=../shared/reference/run.sh
"$ref" limit --customers 10 >/dev/null
refdir=${REFERENCE_DIR:-${TMPDIR:-/tmp}/faultline-reference}/target/release

# --- measuring -----------------------------------------------------------
# Instructions (Ir) of one command under callgrind. Prints the total.
ir() {
  local out="$work/cg.$RANDOM.out"
  valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >/dev/null 2>"$out.log" \
    || { cat "$out.log" >&2; return 1; }
  awk '/^(summary|totals):/ { print $2; exit }' "$out"
}

# The M/M/4 scenario of the reference at `customers` customers, optionally
# with the 10 s client timeout and a balancer doing 1 s health checks (the
# same text as benches/engine.rs's `plain` otherwise: 1-minute bins).
scenario() { # customers kind(plain|health) -> file
  local customers=$1 kind=$2 file="$work/$2-$1.toml"
  local duration=$(( (customers * 10 + 35) / 36 ))  # ceil(customers / 3.6)
  local timeout=none target=pool balancer=
  if [ "$kind" = health ]; then
    timeout=10s target=lb
    balancer=$'[balancers.lb]\nservice = "pool"\nhealth_check = { interval = "1s" }'
  fi
  cat > "$file" <<EOF
version = 1
[simulation]
duration = "${duration}s"
seed = 42
bin = "1m"
[traffic.clients]
rate = "3.6/s"
timeout = "$timeout"
target = "$target"
$balancer
[services.pool]
workers = 4
queue_capacity = "unbounded"
service_time = { distribution = "exponential", mean = "1s" }
EOF
  echo "$file"
}

results="$work/results"
: > "$results"
# per_customer NAME GROUP CMD... : runs CMD with @N@ replaced by N1 and N2
# (and @F:kind@ by a scenario file of N customers) and records the slope.
per_customer() {
  local name=$1 group=$2; shift 2
  local counts=() n
  for n in "$n1" "$n2"; do
    local args=() a
    for a in "$@"; do
      case $a in
        @F:*@) k=${a#@F:}; a=$(scenario "$n" "${k%@}") ;;
        *) a=${a//@N@/$n} ;;
      esac
      args+=("$a")
    done
    counts+=("$(ir "${args[@]}")")
  done
  echo "$group $name ${counts[0]} ${counts[1]}" >> "$results"
}


start=$SECONDS
per_customer cli plain "$faultline" run @F:plain@ --out "$work/out" --quiet --threads 1 --force --no-charts
per_customer cli_charts plain "$faultline" run @F:plain@ --out "$work/out" --quiet --threads 1 --force
per_customer engine plain "$bench" --customers @N@ --runs 1 --variant plain
per_customer limit plain "$refdir/limit" --customers @N@ --servers 4 --lambda 3.6 --mu 1.0 --seed 1
per_customer cli timeouts "$faultline" run @F:health@ --out "$work/out" --quiet --threads 1 --force --no-charts
per_customer engine timeouts "$bench" --runs 1 --scenario @F:health@
per_customer engine_timeout_only timeouts "$bench" --customers @N@ --runs 1 --variant timeouts
per_customer limit_generic timeouts "$refdir/limit_generic" --customers @N@ --servers 4 --lambda 3.6 --mu 1.0 \
  --timeout 10 --seed 1
per_customer lo3 nodes "$bench" --customers @N@ --runs 1 --variant lo3
per_customer lo3000 nodes "$bench" --customers @N@ --runs 1 --variant lo3000

# The heap's share: callgrind_annotate's per-line self cost (inlined code is
# attributed to the line it came from), summed over src/engine/heap.rs.
storm="$work/storm.out"
valgrind --tool=callgrind --dump-instr=no --callgrind-out-file="$storm" \
  "$bench" --runs 1 --scenario models/retry-storm.toml >/dev/null 2>"$storm.log"

HEAP_FILES=${HEAP_FILES:-src/engine/heap.rs} python3 - "$results" "$n1" "$n2" "$storm" "$((SECONDS - start))" <<'PY'
import json, os, re, subprocess, sys
results, n1, n2, storm, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
rows = {}
for line in open(results):
    group, name, a, b = line.split()
    rows[(group, name)] = (int(b) - int(a)) / (n2 - n1)
def emit(measure, **fields):
    print(json.dumps({"measure": measure, **fields}))
print(f"instructions per customer under callgrind, slope between {n1:,} and {n2:,} customers")
def row(label, value, note=""):
    print(f"  {label:<44} {value:>10} {note}")
plain_cli, plain_engine, limit = rows[("plain", "cli")], rows[("plain", "engine")], rows[("plain", "limit")]
print("plain M/M/4 rho 0.9")
row("faultline whole CLI (--no-charts)", f"{plain_cli:,.0f}", f"{plain_cli / limit:.2f}x limit (target <= 1.4x)")
charts = rows[("plain", "cli_charts")]
row("faultline whole CLI with charts", f"{charts:,.0f}", f"{charts / limit:.2f}x limit")
row("faultline engine + metrics (bench plain)", f"{plain_engine:,.0f}", f"{plain_engine / limit:.2f}x limit (target <= 1.2x)")
row("reference limit", f"{limit:,.0f}")
t_cli, t_engine, t_only, generic = (rows[("timeouts", k)] for k in ("cli", "engine", "engine_timeout_only", "limit_generic"))
print("10 s client timeout + 1 s health check")
row("faultline whole CLI (--no-charts)", f"{t_cli:,.0f}", f"{t_cli / generic:.2f}x limit_generic (target <= 0.75x)")
row("faultline engine + metrics (same scenario)", f"{t_engine:,.0f}", f"{t_engine / generic:.2f}x limit_generic")
row("faultline engine + metrics (bench timeouts)", f"{t_only:,.0f}", f"{t_only / generic:.2f}x limit_generic (no health check)")
row("reference limit_generic --timeout 10", f"{generic:,.0f}")
lo3, lo3000 = rows[("nodes", "lo3")], rows[("nodes", "lo3000")]
print("least-outstanding over N single-worker nodes, rho 0.9 (per request)")
row("3 nodes (bench lo3)", f"{lo3:,.0f}")
row("3,000 nodes (bench lo3000)", f"{lo3000:,.0f}", f"{lo3000 / lo3:.2f}x 3 nodes (target <= 1.3x)")

# Heap share of the retry storm, from callgrind_annotate's per-line costs.
text = subprocess.run(["callgrind_annotate", "--auto=no", "--threshold=100", storm],
                      capture_output=True, text=True, check=True).stdout
total = heap = 0
heap_files = tuple(os.environ["HEAP_FILES"].split())
for line in text.splitlines():
    m = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*)$", line)
    if not m:
        continue
    cost, where = int(m.group(1).replace(",", "")), m.group(2)
    if where.strip() == "PROGRAM TOTALS":
        total = cost
    elif where.split(":", 1)[0].endswith(heap_files):
        heap += cost
print("retry-storm cascade (models/retry-storm.toml), engine + metrics")
row("instructions in " + " ".join(heap_files), f"{heap / total:.1%}", f"of {total:,} (target <= 20%)")
print(f"({secs} s under callgrind)")
emit("plain_cli", ir_per_customer=round(plain_cli, 1), vs_limit=round(plain_cli / limit, 3))
emit("plain_cli_charts", ir_per_customer=round(charts, 1), vs_limit=round(charts / limit, 3))
emit("plain_engine", ir_per_customer=round(plain_engine, 1), vs_limit=round(plain_engine / limit, 3))
emit("plain_limit", ir_per_customer=round(limit, 1))
emit("timeouts_cli", ir_per_customer=round(t_cli, 1), vs_limit_generic=round(t_cli / generic, 3))
emit("timeouts_engine", ir_per_customer=round(t_engine, 1), vs_limit_generic=round(t_engine / generic, 3))
emit("timeouts_engine_no_health", ir_per_customer=round(t_only, 1), vs_limit_generic=round(t_only / generic, 3))
emit("timeouts_limit_generic", ir_per_customer=round(generic, 1))
emit("nodes", ir_per_request_3=round(lo3, 1), ir_per_request_3000=round(lo3000, 1), ratio=round(lo3000 / lo3, 3))
emit("retry_storm_heap", files=list(heap_files), heap_ir=heap, total_ir=total, share=round(heap / total, 4))
PY

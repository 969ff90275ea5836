#!/usr/bin/env bash
# Side-by-side speed comparison on one machine in one sitting: faultline's
# engine benchmark against the hand-written reference loops in
# ../shared/reference (limit: bare M/M/c; limit_generic: with timeouts) and,
# if a venv with simpy exists at /tmp/peers-venv, SimPy. Runs alternate
# (A B A B ...) and the medians are compared.
#
# Usage: benches/compare.sh [CUSTOMERS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
customers=${1:-3000000}
rounds=${2:-5}
ref=../shared/reference/run.sh
cargo bench --bench engine --no-run 2>/dev/null
bench=$(ls -t target/release/deps/engine-* | grep -v '\.d$' | head -1)
out=$(mktemp)
for i in $(seq "$rounds"); do
  "$bench" --customers "$customers" --runs 1 --variant both >> "$out"
  "$ref" limit --customers "$customers" --servers 4 --lambda 3.6 --mu 1.0 --seed "$i" >> "$out"
  "$ref" limit_generic --customers "$customers" --servers 4 --lambda 3.6 --mu 1.0 --timeout 10 --seed "$i" >> "$out"
done
if [ -x /tmp/peers-venv/bin/python ]; then
  simpy_customers=$((customers / 20))
  for i in $(seq "$rounds"); do
    /tmp/peers-venv/bin/python ../shared/peers/mmc_simpy.py --lam 3.6 --mu 1 --c 4 --customers "$simpy_customers" --seed "$i" \
      | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)))' >> "$out"
  done
fi
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
def med(pred, key):
    xs = [r[key] for r in rows if pred(r)]
    return statistics.median(xs) if xs else None
ours = med(lambda r: r.get("bench") == "mm4_rho09_plain", "median_requests_per_sec")
ours_t = med(lambda r: r.get("bench") == "mm4_rho09_timeouts", "median_requests_per_sec")
limit = med(lambda r: r.get("program") == "limit", "customers_per_sec")
generic = med(lambda r: r.get("program") == "limit_generic", "customers_per_sec")
simpy = med(lambda r: "simpy_kernel_events" in r, "customers_per_s")
print(f"faultline plain     {ours:,.0f} req/s")
print(f"faultline timeouts  {ours_t:,.0f} req/s")
print(f"reference limit     {limit:,.0f} customers/s   -> faultline plain / limit = {ours/limit:.2f}")
print(f"reference generic   {generic:,.0f} customers/s   -> faultline timeouts / limit_generic = {ours_t/generic:.2f}")
if simpy:
    print(f"SimPy               {simpy:,.0f} customers/s   -> faultline plain / SimPy = {ours/simpy:.0f}x")
PY

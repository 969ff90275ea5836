#!/usr/bin/env bash
# faultline against SimPy on the load-balancer retry cascade, per simulated
# request, in one sitting: ../shared/peers/lb_retry_simpy.py (naive
# retries) and its faultline twin benches/lb-retry-cascade.toml through the
# engine benchmark (engine + metrics, no output files). Two paths:
#   cascade    the model as written: calm 60 s, a crash, the survivors
#              overload and die, then collapse (every request fails four
#              times at once) to the end of the 300 s run;
#   collapsed  one node that crashes at 1 s: nearly the whole run is the
#              collapsed path (refused, then no backend once ejected).
# Rounds alternate the two programs; medians of wall time per request.
#
# Needs a venv with simpy at /tmp/peers-venv (see ../shared/peers/README.md):
#   python3 -m venv /tmp/peers-venv && /tmp/peers-venv/bin/pip install simpy
# Usage: benches/simpy.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
py=/tmp/peers-venv/bin/python
peer=../shared/peers/lb_retry_simpy.py
if ! "$py" -c 'import simpy' 2>/dev/null; then
  echo "no simpy at $py: python3 -m venv /tmp/peers-venv && /tmp/peers-venv/bin/pip install simpy" >&2
  exit 1
fi
cargo bench --bench engine --no-run 2>/dev/null
bench=$(ls -t target/release/deps/engine-* | grep -v '\.d$' | head -1)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp benches/lb-retry-cascade.toml "$tmp/cascade.toml"
# The collapsed path: one node, crashed at 1 s.
sed -e 's/^nodes = 3$/nodes = 1/' -e 's/^at = "60s"$/at = "1s"/' benches/lb-retry-cascade.toml > "$tmp/collapsed.toml"
grep -q '^nodes = 1$' "$tmp/collapsed.toml" && grep -q '^at = "1s"$' "$tmp/collapsed.toml"
out="$tmp/rows"
for i in $(seq "$rounds"); do
  for path in cascade collapsed; do
    args=(--variant naive --seed "$i" --csv '')
    [ "$path" = collapsed ] && args+=(--servers 1 --crash-at 1)
    "$py" "$peer" "${args[@]}" | sed -n 's/^# summary-json: //p' | sed "s/^{/{\"path\": \"$path\", \"who\": \"simpy\", /" >> "$out"
    "$bench" --scenario "$tmp/$path.toml" --runs 5 | sed "s/^{/{\"path\": \"$path\", \"who\": \"faultline\", /" >> "$out"
  done
done
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print("wall time per simulated request (medians), faultline engine + metrics vs SimPy")
for path in ["cascade", "collapsed"]:
    simpy = statistics.median(r["wall_us_per_request"] for r in rows if r["path"] == path and r["who"] == "simpy")
    ours = statistics.median(1e6 / r["median_requests_per_sec"] for r in rows if r["path"] == path and r["who"] == "faultline")
    print(f"  {path:<10} faultline {ours:6.3f} us   SimPy {simpy:6.2f} us   {simpy / ours:5.0f}x (target >= 150x)")
    print(json.dumps({"measure": f"simpy_{path}", "faultline_us_per_request": round(ours, 4),
                      "simpy_us_per_request": round(simpy, 3), "ratio": round(simpy / ours, 1)}))
PY

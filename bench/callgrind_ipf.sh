#!/usr/bin/env bash
# Instructions per input frame of each datapath micro-benchmark, counted by
# valgrind's callgrind (deterministic: the same binary and inputs give the
# same count whatever else the machine is doing, so small differences are
# real). Cost = inclusive instructions of the top-level Datapath::receive
# calls divided by the frames they were given (calls x kBatchSize, 32).
#
#   bench/callgrind_ipf.sh BENCH_BINARY [BASELINE_BENCH_BINARY]
#
# With a baseline binary (e.g. a build of an earlier commit), prints both
# columns and their ratio. Needs valgrind (callgrind_annotate).
set -euo pipefail
bin=${1:?usage: callgrind_ipf.sh KVNET_BENCH [BASELINE_KVNET_BENCH]}
base=${2:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v valgrind >/dev/null || { echo "callgrind_ipf: valgrind is missing" >&2; exit 1; }

ipf() {  # binary benchmark -> instructions per frame
  local out=$tmp/cg.$RANDOM
  valgrind --tool=callgrind --callgrind-out-file="$out" "$1" --benchmark_filter="^$2\$" \
    --benchmark_min_time=0.05 >/dev/null 2>&1
  # Source annotation shows each call site as "IR => FILE:FUNC (Nx)". The
  # benchmark loop's call of Datapath::receive(Port&, FrameBatch&) is the
  # site with the most calls (a patch's inner call has as many, and less
  # cost: it is included in the outer one).
  callgrind_annotate --inclusive=yes "$out" 2>/dev/null | awk '
    /=> .*Datapath::receive\(kvnet::dp::Port&, kvnet::net::FrameBatch&\) \(/ {
      ir = $1; gsub(",", "", ir); n = $0; sub(/.*\(/, "", n); sub(/x\).*/, "", n); gsub(",", "", n)
      if (n + 0 > calls || (n + 0 == calls && ir + 0 > total)) { calls = n + 0; total = ir + 0 }
    }
    END { if (calls) printf "%.0f\n", total / (calls * 32); else print "?" }'
}

benches=$("$bin" --benchmark_list_tests)
if [ -n "$base" ]; then
  printf '| benchmark | baseline | this tree | ratio |\n|---|---:|---:|---:|\n'
else
  printf '| benchmark | instructions/frame |\n|---|---:|\n'
fi
for b in $benches; do
  now=$(ipf "$bin" "$b")
  if [ -n "$base" ]; then
    was=$(ipf "$base" "$b")
    ratio=$(awk -v a="$now" -v b="$was" 'BEGIN { if (b > 0 && a > 0) printf "%.3f", a / b; else print "?" }')
    printf '| %s | %s | %s | %s |\n' "$b" "$was" "$now" "$ratio"
  else
    printf '| %s | %s |\n' "$b" "$now"
  fi
done

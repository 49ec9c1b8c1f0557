#!/usr/bin/env bash
# Before/after the textbook/fast split, alternating, one sitting. Not committed: its logs are.
set -u
. /work/main/.venv/bin/activate
OUT=/work/ab
bench() {  # side model tag
  local dir=/work/$1
  (cd "$dir" && python benchmarks/bench_train.py --model "$2" --compare torch --rounds 5 \
      --json "$OUT/bench-$2-$1-$3.json") > "$OUT/bench-$2-$1-$3.txt" 2>&1
  echo "$(date +%T) bench $2 $1 $3 done"
}
job() {  # side
  local dir=/work/$1
  (cd "$dir" && /usr/bin/time -v python examples/assignment4.py --out "$OUT/runs-$1" --verbose 2) \
      > "$OUT/job-$1.txt" 2>&1
  echo "$(date +%T) job $1 done"
}
echo "$(date +%T) start; before=$(git -C /work/before rev-parse --short HEAD) after=$(git -C /work/after rev-parse --short HEAD)"
bench before go-crazy 1; bench after go-crazy 1
bench before vanilla 1;  bench after vanilla 1
job before; job after
bench after go-crazy 2;  bench before go-crazy 2
bench after vanilla 2;   bench before vanilla 2
echo "$(date +%T) all done"

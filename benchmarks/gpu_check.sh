#!/usr/bin/env bash
# The GPU figures of benchmarks/RESULTS.md, measured in one go on a CUDA machine
# where numpy, cupy, tqdm, pytest and (for the comparison) torch are installed.
#
#   OUT=gpu_out bash benchmarks/gpu_check.sh               # every step
#   OUT=gpu_out bash benchmarks/gpu_check.sh tests fit     # some steps
#   OUT=gpu_out bash benchmarks/gpu_check.sh graph         # the CUDA graph's checks
#
# Each step has a time limit and its own log in $OUT; a failing step does not
# stop the others. At the end every log and JSON file is packed into
# $OUT/gpu_check.tgz.
#
# "graph" (minicnn/fast/graph.py, docs/gpu.md) is env, graph_tests, graph_bench and
# graph_fit: at most 7 minutes in all (30 + 90 + 180 + 120 s), so that a 15-minute
# device session has room for the machine's start and for a second try.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
py=${PYTHON:-python3}

step() {  # step NAME SECONDS COMMAND...: run it with a limit, log to $OUT/NAME.log
    local name=$1 limit=$2
    shift 2
    echo "== $name (limit ${limit} s): $*"
    local t0=$SECONDS
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
    echo "   exit $?, $((SECONDS - t0)) s"
    tail -n "${TAIL:-30}" "$OUT/$name.log"
}

env_info() {
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
    $py -c "import sys, numpy, cupy; print(sys.version.split()[0], 'numpy', numpy.__version__, 'cupy', cupy.__version__)"
    $py -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
}

run_step() {
    case $1 in
    env)      # the machine and the versions
        export -f env_info
        export py
        step env 30 bash -c env_info ;;
    graph_tests)  # the CUDA graph's tests and the CuPy path's, gpu-marked ones included
        step graph_tests 90 $py -m pytest -q -p no:cacheprovider -rs tests/test_graph.py \
            tests/test_backend_paths.py ;;
    graph_bench)  # Go Crazy and vanilla against PyTorch, the step as a graph and without
        step graph_bench 180 $py benchmarks/bench_train.py --backend cupy \
            --model go-crazy,vanilla --graph both --compare torch --rounds 3 \
            --json "$OUT/graph_bench.json" ;;
    graph_fit)    # the README's main job on the GPU, graphs on (the default)
        step graph_fit 120 $py examples/assignment4.py --backend cupy --verbose 2 \
            --out "$OUT/runs" ;;
    graph)
        for s in env graph_tests graph_bench graph_fit; do run_step "$s"; done ;;
    tests)    # the whole suite; the gpu-marked tests run on the real device here
        step tests 150 $py -m pytest -q -p no:cacheprovider -rs tests ;;
    bench)    # Go Crazy: minicnn on CuPy against PyTorch on the same GPU
        step bench_cupy 150 $py benchmarks/bench_train.py --backend cupy --model go-crazy \
            --compare torch --rounds 3 --json "$OUT/bench_cupy.json" ;;
    layers)   # where a Go Crazy step spends its time on the GPU
        step layers_cupy 90 $py benchmarks/bench_layers.py --backend cupy \
            --json "$OUT/layers_cupy.json" ;;
    models)   # every assignment model on CuPy
        step models_cupy 120 $py benchmarks/bench_train.py --backend cupy --model all \
            --json "$OUT/models_cupy.json" ;;
    fit)      # the README's main job on the GPU: 20 epochs of Go Crazy
        step fit_cupy 240 $py examples/assignment4.py --backend cupy --verbose 2 \
            --out "$OUT/runs" ;;
    epochs)   # the same for two epochs only: the time per epoch
        step epochs_cupy 120 $py examples/assignment4.py --backend cupy --verbose 2 \
            --epochs 2 --out "$OUT/runs" ;;
    cpu)      # NumPy on this machine's cores against PyTorch on the same CPU
        step bench_numpy 150 $py benchmarks/bench_train.py --backend numpy --model go-crazy \
            --compare torch --torch-device cpu --json "$OUT/bench_numpy.json" ;;
    *)
        echo "unknown step $1" ;;
    esac
}

steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(env tests bench layers models fit cpu)
for s in "${steps[@]}"; do
    run_step "$s"
done
(cd "$OUT" && tar czf gpu_check.tgz --exclude gpu_check.tgz -- *) && echo "packed $OUT/gpu_check.tgz"

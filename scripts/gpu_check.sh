#!/usr/bin/env bash
# The GPU checks of issue 11 in one command (under 8 minutes on one GPU), from the repository root:
#
#     scripts/gpu_check.sh          # on a machine with a CUDA GPU
#     scripts/gpu_check.sh --cpu    # dry run of the same steps on the CPU, small sizes (nothing CUDA runs)
#
# Steps, each under its own time limit, each log also written to $OUT (when set) or $TMPDIR/gpu_check_out:
#   1. the device (nvidia-smi, torch's view of it);
#   2. the CUDA tests: tests/miner/test_cuda.py (a round trained on CUDA; CPU <-> CUDA replay of every
#      segment), skipped on a machine without CUDA;
#   3. the benchmarks: bench/bench_verify.py and bench/bench_training.py (they pick CUDA when present)
#      and bench/bench_attacks.py (detection per attack class; CPU verification);
#   4. the cross-device tolerance measurement: scripts/measure_tolerances.py --device cuda (a miner trains
#      each registry model on CUDA, every segment is replayed on the CPU: per-tensor noise per kind),
#      the figures behind tolerance.CPU_GPU (docs/TOLERANCES.md);
#   5. the size ladder's largest model (25.4M-parameter tiny-lm, issue 14): bench/bench_size_ladder.py on
#      CUDA: one round's training time, miner disk, verifier fetch, verification/training, aggregation and
#      the PoT loop over a bare loop (about 4 more minutes).
#
# Needs the venv of `make setup` (.venv; or PY=/path/to/python). `make setup` installs the CPU torch
# wheel; on the GPU machine install a CUDA build of the same version first, e.g.
#     .venv/bin/pip install --force-reinstall --no-deps torch==2.13.0 --index-url https://download.pytorch.org/whl/cu126
# (or set PY to a python whose torch sees the GPU). Without CUDA the script stops before step 2
# unless --cpu is given. Exit status: 0 when every step passed, else the number of failed steps.
set -u
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
OUTDIR="${OUT:-${TMPDIR:-/tmp}/gpu_check_out}"
mkdir -p "$OUTDIR"
CPU_ONLY=0
[ "${1:-}" = "--cpu" ] && CPU_ONLY=1
export QT_QPA_PLATFORM=offscreen PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
FAILED=0

step() {  # step NAME SECONDS COMMAND...: run with a time limit, log to $OUTDIR/NAME.txt, count failures
    local name="$1" limit="$2"; shift 2
    echo "== $name (limit ${limit}s): $*"
    local t0=$SECONDS
    timeout "$limit" "$@" > "$OUTDIR/$name.txt" 2>&1
    local rc=$?
    tail -n 25 "$OUTDIR/$name.txt"
    echo "== $name: exit $rc after $((SECONDS - t0)) s"
    echo "$name $rc $((SECONDS - t0))" >> "$OUTDIR/summary.txt"
    [ "$rc" -eq 0 ] || FAILED=$((FAILED + 1))
}

: > "$OUTDIR/summary.txt"
if [ ! -x "$PY" ]; then echo "no python at $PY: run 'make setup' or set PY" >&2; exit 2; fi
"$PY" - > "$OUTDIR/device.txt" 2>&1 <<'PYEOF'
import torch
print("torch", torch.__version__, "cuda build", torch.version.cuda, "available", torch.cuda.is_available())
for i in range(torch.cuda.device_count()):
    print(i, torch.cuda.get_device_name(i), torch.cuda.get_device_capability(i))
PYEOF
(command -v nvidia-smi > /dev/null && nvidia-smi) >> "$OUTDIR/device.txt" 2>&1
cat "$OUTDIR/device.txt"
HAS_CUDA=$("$PY" -c "import torch; print(int(torch.cuda.is_available()))")
if [ "$HAS_CUDA" != 1 ] && [ "$CPU_ONLY" != 1 ]; then
    echo "torch sees no CUDA device: install a CUDA build of torch (see the top of this script) or pass --cpu" >&2
    exit 2
fi

if [ "$CPU_ONLY" = 1 ]; then  # the same steps, small, on the CPU: checks the script and the tools still run
    step cuda_tests 120 "$PY" -m pytest -q -p no:cacheprovider tests/miner/test_cuda.py tests/adversarial/test_useful_filter.py
    step bench_verify 120 "$PY" bench/bench_verify.py --rounds 1
    step bench_training 120 "$PY" bench/bench_training.py --rounds 1 --steps 100 --store memory
    step bench_attacks 240 "$PY" bench/bench_attacks.py --receipts 2
    step tolerances 240 "$PY" scripts/measure_tolerances.py --steps 40 --models mlp
    step size_ladder 180 "$PY" bench/bench_size_ladder.py --sizes xs --steps 16 --k 4 --pairs 1
else
    step cuda_tests 120 "$PY" -m pytest -q -p no:cacheprovider -rs tests/miner/test_cuda.py
    step bench_verify 60 "$PY" bench/bench_verify.py --rounds 3
    step bench_training 60 "$PY" bench/bench_training.py --rounds 3 --store memory
    step bench_attacks 120 "$PY" bench/bench_attacks.py --receipts 8
    step tolerances 150 "$PY" scripts/measure_tolerances.py --device cuda --steps 200
    step size_ladder 240 "$PY" bench/bench_size_ladder.py --sizes xs,xl --steps 400 --k 20 --batch 32 --pairs 1
fi
echo "== done: $FAILED step(s) failed; logs in $OUTDIR"
exit "$FAILED"

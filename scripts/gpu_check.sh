#!/usr/bin/env bash
# The GPU checks of aevb in one command of at most 8 minutes on one H100/H200, ending with one table:
# the CUDA tests, aevb-bench in every GPU mode (framework / plain reference ratios, each row as it is measured), one run
# with its training calls as written and one replayed as CUDA graphs (model.cuda_graph), in fp32 and bf16-mixed, a
# stacked figure2_mnist sweep (at 10 and at 100 minibatches a call), a stacked sweep of seeds (the batched path), and
# aevb-eval at k = 5000 on the 10,000 MNIST test images. The steps' time limits add up to 480 s.
#
# On this machine, once:   bash scripts/gpu_check.sh prepare
#   puts the packages a bare GPU machine lacks in .gpu-deps/ (git-ignored): the pure-Python ones (hydra-core, omegaconf,
#   antlr4) copied from .venv, the compiled one (greenlet, the stacked launcher's) unpacked from its wheel for the GPU
#   machine's Python (GPU_PYTHON, 3.12: the device tool's KINDS.md); and the data in data/. Both travel with `carry`.
# On the GPU machine:      bash scripts/gpu_check.sh            (device tool: carry [".gpu-deps", "data"])
#   writes $OUT/gpu_check.txt (the table) and $OUT/gpu_check.log (everything), or ./gpu_check.* without $OUT.
# Lengths are environment variables: SWEEP_SAMPLES (2e6: each job of figure2_mnist; SWEEP_100_SAMPLES, 1e6, at 100
# minibatches a call), SEEDS (12), BENCH_SAMPLES (100000: the bench's one-run modes), BENCH_STACK and STACK_SAMPLES (8
# runs of 50000: its stacked modes), EVAL_K (5000); TRAINER=cpu PYTHON=.venv/bin/python tries its logic on a CPU. Each
# step has a time limit, so the table always comes back.
set -uo pipefail
cd "$(dirname "$0")/.."

# What the GPU machine's image lacks of what aevb imports (tests/unit/test_gpu_check.py keeps the lists whole)
PURE_PYTHON_CARRIED="hydra omegaconf antlr4"
COMPILED_CARRIED="greenlet"

if [ "${1:-}" = prepare ]; then
  site=$(.venv/bin/python -c 'import site; print(site.getsitepackages()[0])')
  rm -rf .gpu-deps && mkdir -p .gpu-deps
  for package in $PURE_PYTHON_CARRIED; do cp -r "$site/$package" .gpu-deps/; done
  for package in $COMPILED_CARRIED; do
    version=$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('$package'))")
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version "${GPU_PYTHON:-3.12}" \
      --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 -d .gpu-deps/wheels "$package==$version" || exit 1
    .venv/bin/python -m zipfile -e .gpu-deps/wheels/"$package"-*.whl .gpu-deps/
  done
  rm -rf .gpu-deps/wheels
  if [ ! -d data/MNIST ]; then mkdir -p data && cp -r "${AEVB_SHARED_DATA:-../shared/data}"/{MNIST,frey_rawface.mat} data/; fi
  du -sh .gpu-deps data
  exit 0
fi

out="${OUT:-.}"
log="$out/gpu_check.log"
table="$out/gpu_check.txt"
python=${PYTHON:-python3}
export PYTHONPATH="$PWD/src:$PWD/tests:$PWD/.gpu-deps${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HYDRA_FULL_ERROR=1
export AEVB_DATA_DIR="$PWD/data" AEVB_OUTPUT_DIR="${TMPDIR:-/tmp}/aevb-gpu-check"
rm -rf "$AEVB_OUTPUT_DIR"
: >"$log"
row() { printf '%-58s %s\n' "$1" "$2" | tee -a "$table"; }
step() { echo "=== $*" >>"$log"; }
: >"$table"
row "what" "measured"
row "device" "$($python -c 'import torch; print(torch.cuda.get_device_name(0), "torch", torch.__version__)' 2>>"$log")"
# the image's packages that aevb needs, and the carried ones (their lists above): each imported, with its version
row "packages aevb imports" "$($python - torch lightning tensorboard scipy matplotlib $PURE_PYTHON_CARRIED $COMPILED_CARRIED \
  <<'PY' 2>&1
import importlib, importlib.metadata as metadata, sys
distributions = metadata.packages_distributions()
found, missing = [], []
for module in sys.argv[1:]:
    try:
        importlib.import_module(module)
    except ImportError as error:
        missing.append(f"{module} ({error})")
        continue
    names = distributions.get(module)  # none for a package carried in .gpu-deps without its metadata
    found.append(f"{names[0]} {metadata.version(names[0])}" if names else f"{module} (carried)")
print(", ".join(found) + (f"; MISSING: {', '.join(missing)}: bash scripts/gpu_check.sh prepare, carry .gpu-deps" if missing else ""))
PY
)"

step "CUDA tests"
timeout 45 $python -m pytest -q -p no:cacheprovider tests/unit/test_stacking.py tests/unit/test_reference_loops.py \
  tests/unit/test_captured_calls.py tests/unit/test_optim.py tests/integration/test_no_host_reads.py >>"$log" 2>&1
row "CUDA tests (stacking, reference loops, captured calls, no host reads)" "$(grep -E '[0-9]+ (passed|failed)' "$log" | tail -1)"

bench() {  # name, time limit, aevb-bench arguments: its rows into the table, each as soon as it is measured
  local name=$1 limit=$2; shift 2
  step "bench $name"
  local device=cuda
  [ "${TRAINER:-gpu}" = cpu ] && device=cpu  # the CPU try of the script's logic
  timeout "$limit" $python -m aevb.bench --device $device "$@" >"$AEVB_OUTPUT_DIR/bench_$name.out" 2>&1
  local status=$?
  cat "$AEVB_OUTPUT_DIR/bench_$name.out" >>"$log"
  row "aevb-bench --device $device $*" "samples/s; exit status $status$([ $status = 124 ] && echo ', cut at its time limit')"
  grep -E '^  (mode |eager|graph|stacked|framework |ratio |the same work)' "$AEVB_OUTPUT_DIR/bench_$name.out" | grep -v ' each run: ' | tee -a "$table" >/dev/null
}
mkdir -p "$AEVB_OUTPUT_DIR"
bench one_run 55 --reference eager,graph --samples "${BENCH_SAMPLES:-100000}" --repeats 3
bench stacked 75 --reference stacked,stacked_graph --stack "${BENCH_STACK:-8}" --samples "${STACK_SAMPLES:-50000}" --repeats 2

sweep() {  # name, time limit, overrides...: aggregate training samples/s of a stacked sweep
  local name=$1 limit=$2; shift 2
  step "$name"
  local start end
  start=$(date +%s.%N)
  timeout "$limit" $python -m aevb.commands.train -m hydra/launcher=stacked "trainer=${TRAINER:-gpu}" step_size_selection=none \
    callbacks.image_grids=null data.eval_limit=1000 "hydra.sweep.dir=$AEVB_OUTPUT_DIR/$name" "$@" >>"$log" 2>&1
  end=$(date +%s.%N)
  $python - "$AEVB_OUTPUT_DIR/$name" "$start" "$end" <<'PY' 2>>"$log"
import json, sys
from pathlib import Path
sweep, start, end = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
finished = [json.loads(p.read_text()) for p in sweep.glob("*/metrics.json")]
jobs = len(list(sweep.glob("*/status.json")))
samples = sum(metrics["samples_seen"] for metrics in finished)
text = f"{len(finished)} of {jobs} jobs finished, {samples / (end - start):,.0f} samples/s in all with start-up ({end - start:.0f} s)"
if finished and len(finished) == jobs:
    # the jobs train in step once all have started: the last to start trained for the shortest time, alongside the rest
    training = min(metrics["wall_clock_seconds"] for metrics in finished)
    text = f"{samples / training:,.0f} samples/s in all over the {training:.0f} s the last job to start trained; " + text
print(text)
PY
}
alone() {  # name, time limit, overrides: one aevb_mnist run to 1e6 samples with its evaluations; samples/s, test bound
  local name=$1 limit=$2; shift 2
  step "$name"
  local start end
  start=$(date +%s.%N)
  timeout "$limit" $python -m aevb.commands.train "trainer=${TRAINER:-gpu}" experiment=aevb_mnist step_size_selection=none \
    callbacks.image_grids=null trainer.max_samples=1e6 "hydra.run.dir=$AEVB_OUTPUT_DIR/$name" "$@" >>"$log" 2>&1
  end=$(date +%s.%N)
  $python - "$AEVB_OUTPUT_DIR/$name/metrics.json" "$start" "$end" <<'PY' 2>>"$log"
import json, sys
from pathlib import Path
path, start, end = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
if not path.is_file():
    sys.exit(print(f"did not finish ({end - start:.0f} s with start-up; its end is in gpu_check.log)"))
metrics = json.loads(path.read_text())
train_s = metrics["wall_clock_seconds"]
print(f"{metrics['samples_seen'] / train_s:,.0f} samples/s over its {train_s:.0f} s (evaluations in), "
      f"test bound {metrics['lower_bound']['test']:.2f}, {end - start:.0f} s with start-up")
PY
}
row "one run, aevb_mnist to 1e6, calls as written" "$(alone written 55 model.cuda_graph=false)"
row "one run, aevb_mnist to 1e6, calls replayed as CUDA graphs" "$(alone graph 40 model.cuda_graph=true)"
row "the same, bf16-mixed" "$(alone graph_bf16 40 model.cuda_graph=true trainer.precision=bf16-mixed)"
row "stacked figure2_mnist, AEVB + wake-sleep, ${SWEEP_SAMPLES:-2e6} each, calls as graphs" \
  "$(sweep figure2 70 experiment=figure2_mnist model=mlp,wake_sleep "trainer.max_samples=${SWEEP_SAMPLES:-2e6}")"
# the host's work per call (Lightning's loop, the draws of each minibatch) is one job's after another: 100 minibatches
# a call spread its fixed part over ten times the samples (docs/performance.md, host time per call)
row "the same, ${SWEEP_100_SAMPLES:-1e6} each, 100 minibatches a call" \
  "$(sweep figure2_100 40 experiment=figure2_mnist model=mlp,wake_sleep "trainer.max_samples=${SWEEP_100_SAMPLES:-1e6}" \
    data.steps_per_call=100)"
row "stacked aevb_mnist, ${SEEDS:-12} seeds (one batched group)" \
  "$(sweep seeds 40 experiment=aevb_mnist "seed=$(seq -s, 0 $((${SEEDS:-12} - 1)))" trainer.max_samples=1e6)"

step "aevb-eval"
ckpt=$(ls -d "$AEVB_OUTPUT_DIR"/seeds/0_*/checkpoints/last.ckpt 2>/dev/null | head -1)
if [ -n "$ckpt" ]; then
  # batch_size=auto and the estimator's rows grown to the GPU's free memory: aevb-eval's own defaults on a GPU
  timeout 20 $python -m aevb.commands.evaluate "ckpt_path='$ckpt'" "estimator.importance_samples=${EVAL_K:-5000}" \
    "output_file=$AEVB_OUTPUT_DIR/eval.json" >"$AEVB_OUTPUT_DIR/eval.out" 2>&1
  cat "$AEVB_OUTPUT_DIR/eval.out" >>"$log"
  row "aevb-eval, 10,000 test images, k = ${EVAL_K:-5000}" \
    "$(grep -E 'log p\(x\)|^in [0-9.]+ s' "$AEVB_OUTPUT_DIR/eval.out" | tr -s ' ' | paste -sd ';')"
else
  row "aevb-eval" "no checkpoint of the seeds sweep to score"
fi

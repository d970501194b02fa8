#!/usr/bin/env bash
# The book's GPU check, in one go (about 3-4 minutes on an H200). Run from the repository root:
#
#   MNIST_BOOK_MIRROR=/path/to/datasets OUT=/tmp/gpu bash tools/gpu_check.sh
#
# It needs Python with torch, torchvision, pytest, hypothesis and tqdm (no Jupyter: the notebooks
# are not run here). Everything it produces goes to $OUT:
#   env.txt               nvidia-smi, Python and library versions
#   bench_cuda.json/.txt  python -m mnist_book.bench --device cuda --seeds 3 (torch.compile on for
#                         the fast recipe; compile time is excluded from the training time and
#                         reported as the fast recipe's warmup_seconds)
#   bench_cuda_eager.json/.txt   the fast recipe alone without torch.compile, for comparison
#   pytest_cuda.txt       the unit tests (tests/) on CUDA: pytest --device cuda
#   summary.txt           exit codes and timings of the steps above
# Save bench_cuda.json as bench/results/<gpu>.json to show it in the Speed appendix.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:?set OUT to a folder for the results}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export MNIST_BOOK_FAST=0
: "${MNIST_BOOK_MIRROR:?set MNIST_BOOK_MIRROR to the folder holding the MNIST .gz files}"
export MNIST_BOOK_MIRROR

summary="$OUT/summary.txt"
: >"$summary"
step() {  # step NAME TIMEOUT_SECONDS COMMAND...: run, log its exit code and seconds, go on either way
  local name=$1 limit=$2 start=$SECONDS rc
  shift 2
  echo "=== $name" | tee -a "$summary"
  timeout --kill-after=10 "$limit" "$@"
  rc=$?
  echo "$name: exit $rc after $((SECONDS - start)) s" | tee -a "$summary"
}

{
  date -u +%Y-%m-%dT%H:%M:%SZ
  nvidia-smi || true
  python -c 'import sys, torch, torchvision; print(sys.version); print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version()); print("torchvision", torchvision.__version__); print("gpu", torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)'
} >"$OUT/env.txt" 2>&1

# The benchmark first: it is what this machine is for. --no-progress keeps the log readable.
step "bench (cuda, torch.compile)" 200 \
  bash -c "python -m mnist_book.bench --device cuda --seeds 3 --no-progress --json '$OUT/bench_cuda.json' >'$OUT/bench_cuda.txt' 2>&1"
step "bench (cuda, fast recipe eager)" 60 \
  bash -c "python -m mnist_book.bench --device cuda --seeds 3 --recipes c --compile off --no-progress --json '$OUT/bench_cuda_eager.json' >'$OUT/bench_cuda_eager.txt' 2>&1"
# The unit tests on CUDA. pyproject's addopts name nbval (not installed here): clear them. A test
# file that needs what this machine lacks (ipywidgets, Jupyter) must not stop the others.
step "pytest --device cuda" 150 \
  bash -c "python -m pytest -o addopts='' -q -p no:cacheprovider --continue-on-collection-errors tests --device cuda >'$OUT/pytest_cuda.txt' 2>&1"

tail -n 25 "$OUT/bench_cuda.txt" "$OUT/bench_cuda_eager.txt" "$OUT/pytest_cuda.txt" 2>/dev/null
cat "$summary"

#!/usr/bin/env bash
# One chunk of GPU time: train, side by side on the one GPU, what this project's 2-core CPU cannot train in a
# session, measure the stacked trainer there, and send every new run back.
#
#   bash scripts/device_chunk.sh --prepare        # here, once per checkout: the wheels the GPU machine lacks
#                                                 # (.whl), MNIST and the solved CNN widths (.device); all ignored
#   run(command="bash scripts/device_chunk.sh 555", carry=[".whl", ".device"], timeout_s=600)   # the device tool
#   run(command="bash scripts/device_chunk.sh 200 --bench", ...)   # the benchmark alone, nothing sharing the GPU
#   bash scripts/device_chunk.sh --unpack <files_at>   # here: adds the runs (a run store only grows) and the
#                                                      # checkpoints of runs the deadline stopped
#
# What runs, side by side (each part its own processes, stopped at its deadline; a run that finished is in the
# store, one that did not comes back as its last checkpoint, if the checkpoints fit, and resumes later). Few
# processes, full stacks: on the H200 (2026-12-04) a stack of 32 C8 CNNs trained 12,300 img/s alone on the GPU
# and 1,800-2,400 beside 12 other training processes, so the parts run at most 5 processes at once:
#   1. MNIST `capacity` (issue 28): C8 at 100,000 parameters, 5 seeds of a size per stack (the plain CNN's
#      runs train on the CPU);
#   2. MNIST `large` (issue 27): the flip-rotated key groups at 20,000 and 50,000 images, 3 seeds per stack
#      (the key groups of the paper's largest sizes, on this project's budget rule);
#   3. MNIST `capacity-400k` (issue 28), once part 1 is done, with what time is left.
# `--bench` instead runs the stacked benchmark alone (images per second for K = 1, 8, 32, 64 models of every
# group at 400,000 parameters; the groups not yet measured first), with nothing else on the GPU.
# The GPU machine has torch, torch-geometric, pandas, pyarrow and tqdm; escnn, pymanopt and autograd travel as
# wheels, and lie_learn (which escnn imports but needs only for 3D groups) is a stub here, outside the project.
set -u
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--prepare" ]; then
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
    grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo /.device/ >> .git/info/exclude
    mkdir -p .whl .device/mnist .device/cache
    cp "${EQUILIB_DATA_DIR:?set EQUILIB_DATA_DIR to the folder that holds mnist/}"/mnist/*.gz .device/mnist/
    git rev-parse --short HEAD > .device/commit
    for wheel in escnn==1.0.11 pymanopt==2.2.1 autograd==1.9.1; do
        python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
            --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform any -d .whl "$wheel" || exit 1
    done
    # every width the chunk builds, solved here once (solving builds each model several times)
    EQUILIB_CACHE_DIR=$PWD/.device/cache ${PYTHON:-.venv/bin/python} - <<'EOF' || exit 1
from equilib.experiments.presets import resolve
from equilib.models.groups import GROUPS
from equilib.models.steerable import solve_widths
wanted = {(g, 400_000) for g in GROUPS}
for preset in ("capacity", "capacity-400k", "large"):
    p = resolve("mnist", preset)
    wanted |= {(g, p["target_params"]) for g in p["groups"]}
    wanted |= {(g, p["target_params"]) for groups in p["key_groups"].values() for g in groups}
for group, target in sorted(wanted):
    solve_widths(group, target)
print(f"solved {len(wanted)} widths")
EOF
    du -sh .whl .device
    exit 0
fi

if [ "${1:-}" = "--unpack" ]; then
    from=${2:?the folder where the device tool put the files of the chunk}
    tar -xzf "$from/results.tar.gz" || exit 1
    if ls "$from"/checkpoints.tar.* >/dev/null 2>&1; then
        cat "$from"/checkpoints.tar.* | tar -x 2>/dev/null \
            || echo "some checkpoint pieces did not come back: the checkpoints before them are unpacked"
    fi
    mkdir -p benchmarks/results
    [ -f "$from/train_mnist_stacked-cuda.json" ] && cp "$from/train_mnist_stacked-cuda.json" benchmarks/results/
    git status --short results | head -3
    echo "$(git status --short results | grep -c /runs/) new runs"
    exit 0
fi

deadline=${1:-540}  # seconds from now at which every part is stopped and the runs are packed
device=${EQUILIB_CHUNK_DEVICE:-cuda}  # cpu: a dry run of the whole chunk on this machine
out=${OUT:-/tmp/device_chunk_out}
logs=/tmp/device_chunk_logs
mkdir -p "$out" "$logs"
start=$(date +%s)
left() { echo $(( deadline - ($(date +%s) - start) )); }

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
stub=/tmp/stub/lie_learn/representations/SO3
mkdir -p "$stub"
touch /tmp/stub/lie_learn/__init__.py /tmp/stub/lie_learn/representations/__init__.py "$stub/__init__.py"
printf 'def wigner_D_matrix(*args, **kwargs):\n    raise NotImplementedError("lie_learn is a stub here")\n' \
    > "$stub/wigner_d.py"
export PYTHONPATH=/tmp/site:/tmp/stub:$PWD PYTHONUNBUFFERED=1
export EQUILIB_DATA_DIR=$PWD/.device EQUILIB_CACHE_DIR=/tmp/equilib-cache
mkdir -p "$EQUILIB_CACHE_DIR" && cp .device/cache/cnn-widths.json "$EQUILIB_CACHE_DIR/" 2>/dev/null
export EQUILIB_CODE_VERSION="0.2.0+$(cat .device/commit 2>/dev/null || echo unknown).gpu"
touch /tmp/chunk-start
{ nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"; } \
    | tee "$out/device.txt"
python3 -c "import escnn, torch; print('escnn', escnn.__version__, 'torch', torch.__version__, torch.cuda.is_available())" \
    | tee -a "$out/device.txt" || exit 1

started=""  # the parts' pids; if this script stops early, its parts stop with it
trap 'kill $started 2>/dev/null' EXIT
part() {  # part NAME SECONDS COMMAND...: run in the background, stopped at its own deadline, logged
    local name=$1 seconds=$2
    shift 2
    if [ "$seconds" -lt 30 ]; then  # and never `timeout 0`, which would mean no deadline at all
        echo "$name: skipped, ${seconds} s left" | tee -a "$out/device.txt"
        last=""
        return
    fi
    echo "$name: started at $(( $(date +%s) - start )) s, deadline in $seconds s" >> "$out/device.txt"
    timeout --signal=TERM --kill-after=15 "$seconds" "$@" > "$logs/$name.log" 2>&1 &
    last=$!
    started="$started $last"
}

if [ "${2:-}" = "--bench" ]; then  # the benchmark alone, on a GPU no training shares
    timeout "$(( $(left) - 10 ))" python3 benchmarks/train_mnist_stacked.py --device "$device" --target 400000 \
        --stacks 1 8 32 64 --groups O2 D8 D4 C4 trivial C8 SO2 --n-train 1024 | tee "$out/bench.log"
    cp benchmarks/results/train_mnist_stacked-*.json "$out/"
    exit 0
fi
part capacity "$(( $(left) - 20 ))" python3 -m equilib mnist-protocol --preset capacity --groups C8 \
    --executor processes --workers 2 --threads 1 --stack 5 --device "$device"
capacity=$last
part large "$(( $(left) - 20 ))" python3 -m equilib mnist-protocol --preset large --variants fliprot \
    --executor processes --workers 3 --threads 1 --stack 3 --device "$device"
[ -n "$capacity" ] && wait "$capacity"
part capacity-400k "$(( $(left) - 20 ))" python3 -m equilib mnist-protocol --preset capacity-400k \
    --executor processes --workers 2 --threads 1 --stack 5 --device "$device"
wait
echo "all parts ended at $(( $(date +%s) - start )) s" >> "$out/device.txt"
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader >> "$out/device.txt" 2>/dev/null
find results -newer /tmp/chunk-start -type f \( -path '*/runs/*' -o -path '*/curves/*' \) \
    | tar -czf "$out/results.tar.gz" -T -
find results -type f -path '*/checkpoints/*' -newer /tmp/chunk-start | tar -c -T - | split -b 15M -a 1 -d - \
    "$out/checkpoints.tar."
cp benchmarks/results/train_mnist_stacked-*.json "$out/" 2>/dev/null
tar -czf "$out/logs.tar.gz" -C "$logs" .
echo "packed $(tar -tzf "$out/results.tar.gz" | grep -c /runs/) runs and $(cat "$out"/checkpoints.tar.* \
    | tar -t | wc -l) checkpoints in $(( $(date +%s) - start )) s" | tee -a "$out/device.txt"

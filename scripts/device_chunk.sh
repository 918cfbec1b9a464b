#!/usr/bin/env bash
# One chunk of GPU time: train, side by side on the one GPU, what this project's 2-core CPU cannot train in a
# session, and send every new run back in one file.
#
#   bash scripts/device_chunk.sh --prepare        # here, once per checkout: the wheels the GPU machine lacks
#                                                 # (.whl) and MNIST (.device/mnist); both ignored by git
#   run(command="bash scripts/device_chunk.sh 500", carry=[".whl", ".device"], timeout_s=600)   # the device tool
#   tar -xzf <files_at>/results.tar.gz            # here: a run store only grows, so unpacking adds runs
#
# What trains, side by side (each part its own processes, stopped at the deadline; a run that finished is in the
# store, one that did not is lost and trains again next time); the MNIST parts start first, while the CPUs
# simulate the N-body data:
#   1. N-body `confirm-clipped` (issue 26): the missing seeds' data, one process per seed; then one process per
#      model, every seed and dimension of it in one stack;
#   2. MNIST `large` (issue 27): 20,000 and 50,000 images, the key groups, rotated first, the 3 seeds stacked;
#   3. MNIST `capacity` (issue 28), likewise, when the first two leave room.
# The GPU machine has torch, torch-geometric, pandas, pyarrow and tqdm; escnn, pymanopt and autograd travel as
# wheels, and lie_learn (which escnn imports but needs only for 3D groups) is a stub here, outside the project.
set -u
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--prepare" ]; then
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
    grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo /.device/ >> .git/info/exclude
    mkdir -p .whl .device/mnist
    cp "${EQUILIB_DATA_DIR:?set EQUILIB_DATA_DIR to the folder that holds mnist/}"/mnist/*.gz .device/mnist/
    git rev-parse --short HEAD > .device/commit
    for wheel in escnn==1.0.11 pymanopt==2.2.1 autograd==1.9.1; do
        python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
            --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform any -d .whl "$wheel" || exit 1
    done
    du -sh .whl .device
    exit 0
fi

deadline=${1:-500}  # seconds from now at which every part is stopped and the runs are packed
device=${EQUILIB_CHUNK_DEVICE:-cuda}  # cpu: a dry run of the whole chunk on this machine
out=${OUT:-/tmp/device_chunk_out}
mkdir -p "$out"
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
export EQUILIB_CODE_VERSION="0.2.0+$(cat .device/commit 2>/dev/null || echo unknown).gpu"
touch /tmp/chunk-start
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$out/device.txt"
python3 -c "import escnn, torch; print('escnn', escnn.__version__, 'torch', torch.__version__, torch.cuda.is_available())" \
    | tee -a "$out/device.txt" || exit 1

started=""  # the parts' pids; if this script stops early, its parts stop with it
trap 'kill $started 2>/dev/null' EXIT
part() {  # part NAME SECONDS COMMAND...: run in the background, stopped at its own deadline, logged to $out
    local name=$1 seconds=$2
    shift 2
    if [ "$seconds" -lt 30 ]; then  # and never `timeout 0`, which would mean no deadline at all
        echo "$name: skipped, ${seconds} s left" | tee -a "$out/device.txt"
        last=""
        return
    fi
    timeout --signal=TERM --kill-after=15 "$seconds" "$@" > "$out/$name.log" 2>&1 &
    last=$!
    started="$started $last"
}

missing=$(python3 - <<'EOF'
from equilib.experiments.presets import resolve
from equilib.experiments.protocol import run_protocol
from equilib.experiments.settings import RunSettings
grid = resolve("nbody", "confirm-clipped")
runs = run_protocol("nbody", grid, RunSettings(train_missing=False, progress=False))
done = runs[(runs["status"] == "finished") & (runs["model"] != "freeflight")].groupby("seed").size()
print(" ".join(str(s) for s in grid["seeds"] if done.get(s, 0) < 3 * len(grid["dims"])))
EOF
)
echo "N-body seeds to train: ${missing:-none}" | tee -a "$out/device.txt"
# MNIST first: it needs no data made here, so the GPU trains while the CPUs simulate the N-body data
part mnist-large "$(( $(left) - 20 ))" python3 -m equilib mnist-protocol --preset large --executor processes \
    --workers 6 --threads 1 --stack 3 --device "$device"
part mnist-capacity "$(( $(left) - 20 ))" python3 -m equilib mnist-protocol --preset capacity --executor processes \
    --workers 3 --threads 1 --stack 5 --device "$device"
if [ -n "$missing" ]; then
    data=""
    for seed in $missing; do  # the data and free flight, a process per seed
        part "nbody-data-$seed" "$(left)" python3 scripts/nbody_confirm.py --preset confirm-clipped --seeds "$seed" \
            --models freeflight --threads 1 --device cpu
        data="$data $last"
    done
    [ -n "${data// /}" ] && wait $data  # the data alone: the MNIST parts go on
    for model in gnn egnn resgnn; do
        part "nbody-$model" "$(( $(left) - 20 ))" python3 scripts/nbody_confirm.py --preset confirm-clipped \
            --seeds $missing --together --models "$model" --threads 1 --device "$device"
    done
fi
wait
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader >> "$out/device.txt"
find results -newer /tmp/chunk-start -type f -path '*/runs/*' -o -newer /tmp/chunk-start -type f -path '*/curves/*' \
    | tar -czf "$out/results.tar.gz" -T -
echo "packed $(tar -tzf "$out/results.tar.gz" | grep -c /runs/) runs in $(( $(date +%s) - start )) s" \
    | tee -a "$out/device.txt"

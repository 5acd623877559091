#!/usr/bin/env bash
# Continue the deep-sky run (checkpoints/training/deepsky128-latest.pt) on a lent CUDA machine for
# at most 9 minutes, and bring its state back. Three steps:
#
#   here:   bash benchmarks/gpu_train.sh pack       # .gpu/: the 559 photographs as <=256 px JPEGs (~6 MB),
#                                                   # textures.json; .gpu is git-ignored (.git/info/exclude)
#   there:  the device tool's run, carry [".gpu"], timeout_s 600:
#           bash benchmarks/gpu_train.sh train      # builds the dataset, resumes, trains <= 9 min, writes $OUT
#   here:   bash benchmarks/gpu_train.sh collect DIR   # DIR = the run's files_at: rejoins the state into
#                                                   # runs/deepsky128/latest.pt (then resume here, or commit it)
#
# The working tree travels whole (64 MiB at most): the tracked tree (59 MB with the state and
# deepsky128.pt) plus the pack must fit, which is why the pack holds small JPEG copies (quality 80:
# 5.8 MB; at 90 it was 9 MB, over the limit), not the 250 MB package. $OUT takes files of 16 MiB at most: the state
# comes back split in 15 MB parts. The figures (kimg/h there against here) go into checkpoints/README.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
OPTIONS=(--res 128 --batch 16 --channel-base 2048 --channel-max 128 --map-layers 4 --z-dim 256 --w-dim 256
         --kimg 100000 --snap-kimg 50 --aug ada --target 0.6 --ada-kimg 100 --pl-weight 2 --style-mix 0.9
         --seed 0 --swd-num 256 --keep-snapshots 1 --save-minutes 2)

case "${1:-}" in
pack)
    src="${INSTALLATION_STELLARIUM_DIR:-/usr/share/stellarium/nebulae/default}"
    [ -f "$src/textures.json" ] || { echo "no Stellarium deep-sky images at $src (apt-get install stellarium-data)" >&2; exit 1; }
    grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
    rm -rf .gpu && mkdir -p .gpu/nebulae
    cp "$src/textures.json" .gpu/nebulae/
    PYTHONPATH="$ROOT" "$PY" - "$src" .gpu/nebulae <<'EOF'
import sys
from pathlib import Path
from PIL import Image
from installation.train.dataset import decode_rgb  # transparency onto black, as the dataset tool does
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
for p in sorted(src.glob("*.png")):
    im = decode_rgb(p.read_bytes())
    im.thumbnail((256, 256), Image.LANCZOS)  # longer side <= 256: the pack must fit beside the state
    im.save(dst / (p.stem + ".jpg"), quality=80)  # ~6 MB: beside the state and deepsky128.pt under 64 MiB
EOF
    du -sh .gpu
    ;;
train)
    : "${OUT:?run this on the device machine (it writes to \$OUT)}"
    export PYTHONUNBUFFERED=1 INSTALLATION_STELLARIUM_DIR="$ROOT/.gpu/nebulae"
    # SECONDS_OF_TRAINING, DEVICE and CROPS are for a dry run on a CPU (e.g. 20, cpu, 600).
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
    "$PY" -m installation dataset --deep-sky --res 128 --crops "${CROPS:-12000}" --out /tmp/deepsky128 2>&1 | tail -1
    mkdir -p /tmp/run && cp checkpoints/training/deepsky128-metrics.jsonl /tmp/run/metrics.jsonl
    start=$(date +%s)
    # SIGTERM after 9 minutes: the trainer finishes its minibatch and saves latest.pt.
    timeout --signal=TERM --kill-after=60 "${SECONDS_OF_TRAINING:-540}" "$PY" -m installation train /tmp/deepsky128 \
        --out /tmp/run "${OPTIONS[@]}" --device "${DEVICE:-cuda}" --resume checkpoints/training/deepsky128-latest.pt 2>&1 \
        | tr '\r' '\n' | grep -v "^ *$" | tail -5 || true
    echo "trained for $(( $(date +%s) - start )) s" | tee -a "$OUT/gpu.txt"
    split -b 15M /tmp/run/latest.pt "$OUT/deepsky128-latest.pt.part-"
    cp /tmp/run/metrics.jsonl "$OUT/deepsky128-metrics.jsonl"
    ls /tmp/run/grid-*.png >/dev/null 2>&1 && cp "$(ls /tmp/run/grid-*.png | tail -1)" "$OUT/grid.png"
    tail -1 /tmp/run/metrics.jsonl
    ;;
collect)
    dir="${2:?collect DIR: the folder where the device run files came back}"
    mkdir -p runs/deepsky128
    cat "$dir"/deepsky128-latest.pt.part-* > runs/deepsky128/latest.pt
    cp "$dir/deepsky128-metrics.jsonl" runs/deepsky128/metrics.jsonl
    "$PY" -c "import torch, sys; d = torch.load(sys.argv[1], weights_only=True, map_location='cpu'); print('kimg', d['extra']['kimg'])" \
        runs/deepsky128/latest.pt
    ;;
*)
    echo "usage: $0 pack | train | collect DIR" >&2
    exit 2
    ;;
esac

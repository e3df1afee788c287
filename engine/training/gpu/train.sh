#!/usr/bin/env bash
# Train a model on a lent GPU in one command of at most 9 minutes.
#
#   here:   .venv/bin/python -m engine.training.gpu.pack        # runs/gpu_pack, ~32 MiB
#   device: bash engine/training/gpu/train.sh vocoder|codec     # carry: ["runs/gpu_pack"]
#
# vocoder: the vocoder recipe (configs/vocos_recipe_gpu.json) from the
# shipped default vocoder; codec: the token-reuse codec
# (configs/codec_reuse_gpu.json) from the shipped codec. Trains on the
# packed speech for MINUTES (default 7), then exports the best checkpoint.
# Writes to $OUT (the device tool's folder; ./out here): the weights
# (vocos.safetensors or codec.safetensors), log.csv, config.json, train.log.
# DEVICE=cpu MINUTES=0.2 runs the same script on a machine without a GPU.
set -euo pipefail
cd "$(dirname "$0")/../../.."
PACK=${PACK:-runs/gpu_pack}
OUT=${OUT:-out}
MINUTES=${MINUTES:-7}
DEVICE=${DEVICE:-cuda}
MODEL=${1:-vocoder}
case "$MODEL" in
  vocoder) TRAINER=train_vocos; WEIGHTS=vocos.safetensors
           CONFIG=${CONFIG:-engine/training/configs/vocos_recipe_gpu.json} ;;
  codec)   TRAINER=train_codec; WEIGHTS=codec.safetensors
           CONFIG=${CONFIG:-engine/training/configs/codec_reuse_gpu.json} ;;
  *) echo "usage: $0 vocoder|codec" >&2; exit 2 ;;
esac
RUN=${RUN:-/tmp/streamvox_gpu_run}
mkdir -p "$OUT"
PY=${PY:-python3}
if ! "$PY" -c "import soundfile, soxr" 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/streamvox_site "$PACK"/wheels/*.whl
  export PYTHONPATH=/tmp/streamvox_site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD PYTHONUNBUFFERED=1
"$PY" - "$CONFIG" "$PACK" "$DEVICE" "$RUN/config.in.json" <<'PYEOF'
import json, sys
from pathlib import Path
config, pack, device, dest = sys.argv[1:]
cfg = json.loads(Path(config).read_text())
cfg.update(device=device, data_dir=f"{pack}/speech", noise_dir=f"{pack}/noise",
           split_file=f"{pack}/split.json")
Path(dest).parent.mkdir(parents=True, exist_ok=True)
Path(dest).write_text(json.dumps(cfg, indent=1))
PYEOF
{ nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no GPU"; } | tee "$OUT/train.log"
"$PY" -m engine.training.$TRAINER --config "$RUN/config.in.json" --out "$RUN" \
  --threads "$(nproc)" --minutes "$MINUTES" 2>&1 | tee -a "$OUT/train.log"
"$PY" -m engine.training.$TRAINER --config "$RUN/config.in.json" --out "$RUN" \
  --export "$OUT/$WEIGHTS" 2>&1 | tee -a "$OUT/train.log"
cp "$RUN/log.csv" "$RUN/config.json" "$OUT/"

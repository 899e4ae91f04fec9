# Sourced by the scripts that run on a lent GPU machine (models/gpu_train.sh,
# benchmarks/gpu_train_budget.sh), in the repository root, after they set OUT and STAGE: wheels
# the machine lacks (.whl/) and this checkout go on PYTHONPATH, and the machine is described in
# $OUT/machine.txt. `stage_only FROM` is a staging call's whole work: it copies FROM's parts to
# $STAGE, outside the repository (the device tool re-syncs the tree on each call), and exits.
if [ -d .whl ] && ls .whl/*.whl > /dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1
  python3 -c 'import torch, os; print("torch", torch.__version__, "cores", os.cpu_count())'; } > "$OUT/machine.txt"

stage_only() {
  rm -rf "$STAGE" && mkdir -p "$STAGE" && cp -r "$1"/* "$STAGE/"
  du -sh "$STAGE" | tee "$OUT/stage.txt"
  exit 0
}

#!/usr/bin/env bash
# Kill `main` in the middle of the search, start it again: finished steps are reused, the rest run.
#
#   FASHION_MNIST_DIR=... CIFAR10_PATH=... benchmarks/interrupted_study.sh [work folder, default /tmp/interrupted-study]
#
# Smoke profile, a temporary store in the work folder. Prints how the first run ended, the second run's step
# lines, and the store's runs by status.
set -u
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
W="${1:-/tmp/interrupted-study}"
rm -rf "$W"; mkdir -p "$W"; cd "$W"
export ROOT W
export MLFLOW_TRACKING_URI="sqlite:///$W/mlflow.db" PIPELINE_DATA_DIR="$W/data" PATH="$ROOT/.venv/bin:$PATH"
study() { mlflow run "$ROOT" --env-manager local --experiment-name study --run-name study-smoke -P profile=smoke \
    -P report="$W/report.md"; }
setsid bash -c "$(declare -f study); study" > "$W/first.log" 2>&1 &
LEADER=$!
until grep -qs "step 4/9: search mlp  (then" "$W/first.log"; do sleep 1; done
sleep 8   # inside the search: its trials are running
echo "killing main (process group $LEADER) during: $(grep '^\[' "$W/first.log" | tail -1)"
kill -TERM -- "-$LEADER"; wait "$LEADER"; echo "first run exit: $?"
study > "$W/second.log" 2>&1; echo "second run exit: $?"
grep "^\[" "$W/second.log" | grep -E "done|reused|finished"
python - <<'PY'
import mlflow
client = mlflow.MlflowClient()
runs = client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=1000)
print({s: sum(r.info.status == s for r in runs) for s in ("FINISHED", "FAILED", "KILLED", "RUNNING")})
print(sorted((r.data.tags.get("step", ""), r.info.status) for r in runs if r.info.status != "FINISHED"))
PY

#!/usr/bin/env bash
# The worker's GPU path end to end, for a lent GPU machine: a real `manage.py worker` (Celery,
# prefork pool, filesystem broker, SQLite) computes a figure with device=cuda on a tiny GPT-2,
# and a pending answer is graded by it. Also checks that only the pool child, never the
# worker's parent process, holds a CUDA context (the parent must not initialise CUDA before
# forking). Packages the GPU image lacks come from carried wheels in .whl/ (see gpu_check.sh).
#   bash bench/gpu_worker_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ls .whl/*.whl >/dev/null 2>&1 && ! "$PY" -c 'import flask_sqlalchemy, celery, transformer_lens' 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
W=$(mktemp -d)
export PUZZLES_INSTANCE=$W/instance PUZZLES_DIR=$W/puzzles SECRET_KEY=gpu-check \
       JOB_RECOVERY_SECONDS=1 JOB_HEARTBEAT_SECONDS=0.5 HF_HUB_OFFLINE=1 MODELS_DIR=$W
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"

"$PY" - "$W" <<'PYEOF'
import os, sys, datetime as dt, pathlib, torch
DEVICE = os.environ.get("GPU_CHECK_DEVICE", "cuda")
from transformers import GPT2Config, GPT2LMHeadModel
w = pathlib.Path(sys.argv[1]); torch.manual_seed(0)
GPT2LMHeadModel(GPT2Config(vocab_size=20000, n_embd=64, n_layer=1, n_head=2, n_positions=32,
                           bos_token_id=0, eos_token_id=1)).save_pretrained(w / "tiny_gpt2")
now = dt.datetime.now(dt.timezone.utc); f = lambda d: (now + dt.timedelta(days=d)).strftime("%Y-%m-%dT%H:%M:%SZ")
p = w / "puzzles" / "01-gpu-check"; p.mkdir(parents=True)
(p / "statement.md").write_text("GPU check\n"); (p / "answer.md").write_text("-\n")
(p / "puzzle.toml").write_text(f'''title = "GPU check"
release_at = "{f(-1)}"
deadline_at = "{f(1)}"
reveal_at = "{f(2)}"
[[figures]]
key = "fig"
title = "tiny"
recipe = "embedding_cosine"
params = {{ model = "models:tiny_gpt2", weights = "processed", device = "{DEVICE}", bins = 200 }}
[[questions]]
key = "mean"
prompt = "p"
mode = "challenge"
grader = "abs_tol"
grader_params = {{ tolerance = 1.0 }}
statistic = "fig.mean_cos"
''')
PYEOF

M="$PY manage.py"
$M db upgrade >/dev/null 2>&1 && $M puzzles sync && $M users create sam --email s@e.org --password 'a long password 1' >/dev/null
$M worker --pool prefork --concurrency 1 --loglevel WARNING > $W/worker.log 2>&1 &
WPID=$!
sleep 8
"$PY" - <<'PYEOF'
from puzzle_platform import create_app
from puzzle_platform.extensions import db
from puzzle_platform.models import User
from puzzle_platform.grading.submissions import submit
import sqlalchemy as sa
app = create_app()
with app.app_context():
    out = submit(db.session.scalar(sa.select(User)), "gpu-check", "mean", {"value": "0.1"})
    print("submitted before the truth exists:", out.status, out.submission.status)
PYEOF
( for i in $(seq 1 60); do nvidia-smi --query-compute-apps=pid --format=csv,noheader 2>/dev/null >> $W/gpu_pids; sleep 0.5; done ) &
SAMPLER=$!
time $M puzzles compute gpu-check --wait --timeout 240; RC=$?
kill $SAMPLER 2>/dev/null
"$PY" - "$WPID" "$W" <<'PYEOF'
import os, sys, pathlib, sqlalchemy as sa
from puzzle_platform import create_app
from puzzle_platform.extensions import db
from puzzle_platform.models import Artifact, Job, Submission
parent, w = int(sys.argv[1]), pathlib.Path(sys.argv[2])
app = create_app()
with app.app_context():
    job = db.session.scalar(sa.select(Job)); art = db.session.get(Artifact, job.artifact_id) if job.artifact_id else None
    sub = db.session.scalar(sa.select(Submission))
    pids = {int(x) for x in (w / "gpu_pids").read_text().split()} if (w / "gpu_pids").exists() else set()
    child = int(job.worker.rpartition(":")[2]) if job.worker else None
    rows = [("job status", job.status), ("job worker (pool child)", job.worker), ("worker parent pid", parent),
            ("GPU compute pids seen", sorted(pids)), ("parent held a CUDA context", parent in pids),
            ("artifact device", art and art.provenance.get("device")), ("weights", art and art.provenance.get("weights")),
            ("mean_cos", art and round(art.statistics["mean_cos"], 8)), ("entries_counted", art and art.statistics["entries_counted"]),
            ("pending answer now", f"{sub.status}, points {sub.points}")]
    for k, v in rows: print(f"{k:<28} {v}")
    ok = job.status == "succeeded" and art and art.provenance.get("device", "").startswith(os.environ.get("GPU_CHECK_DEVICE", "cuda")) \
         and sub.status == "graded" and parent not in pids and (not pids or child in pids)
    print("GPU WORKER CHECK:", "PASS" if ok else "FAIL")
PYEOF
kill $WPID 2>/dev/null; wait $WPID 2>/dev/null
tail -5 $W/worker.log
exit $RC

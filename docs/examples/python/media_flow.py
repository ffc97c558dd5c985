"""The media pipeline's flow against `ckpt serve`, in standard-library Python.

    ckpt serve --pipeline docs/examples/video-pipeline/pipeline.js --token s3cret &
    CKPT_TOKEN=s3cret python3 docs/examples/python/media_flow.py http://127.0.0.1:7433 video-17

1. Lists the job's checkpoints (the timeline its newest run recorded on).
2. Replays from `ocr` with a stricter config onto a new timeline, and prints the counts.
3. Queues a retry of `escalate_vlm` with another model, delayed by a second, and polls it.
4. Reads the new report, and what changed against the job's own.

The last line printed is a JSON summary, for scripts. Exits 1 on any failure.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ckpt_client import Ckpt, CkptError  # noqa: E402

PIPELINE = "video-brand-detection"


def main(url, job):
    store = Ckpt(url, token=os.environ.get("CKPT_TOKEN"))
    stamp = time.strftime("%Y%m%d%H%M%S")

    runs = store.runs(job=job)
    if not runs:
        raise SystemExit(f"job {job} has no runs in this store")
    newest = runs[0]
    timeline = newest["timeline"]
    checkpoints = list(store.log(rev=timeline, job=job))
    print(f"job {job}: run {newest['runId']} ({newest['status']}) on timeline {timeline}, {len(checkpoints)} checkpoints")
    for checkpoint in checkpoints:
        print(f"  {checkpoint['shortId']}  {checkpoint.get('stage', '-'):16} {checkpoint['message']}")

    strict = f"strict-ocr-{stamp}"
    replayed = store.replay(PIPELINE, "ocr", run=newest["runId"], timeline=strict, job=job,
                            config={"ocr": {"min_confidence": 0.9}, "escalate_vlm": {"fail_first_attempt": False, "latency_ms": 0}})
    counts = replayed["counts"]
    print(f"replay {replayed['runId']} on {strict}: {replayed['status']}; executed {counts['executed']}, reused {counts['reused']}, failed {counts['failed']}")

    retry_timeline = f"retry-vlm-small-{stamp}"
    task = store.queue(PIPELINE, "replay", delay_seconds=1, stage="escalate_vlm", run=newest["runId"], timeline=retry_timeline, jobId=job,
                       config={"escalate_vlm": {"model": "vlm-small", "fail_first_attempt": False, "latency_ms": 0}})
    print(f"queued retry {task['id']} ({task['state']}), not before {task['runAt']}")
    done = store.wait(task["id"])
    print(f"retry {done['id']}: {done['state']}, run {done['runId']}")
    if done["state"] != "succeeded":
        raise SystemExit(f"the retry ended {done['state']}: {json.dumps(done['result'])}")

    report = store.output(retry_timeline, "report")
    print(f"new report on {retry_timeline}: {json.dumps(report)}")
    recorded_by = store.checkpoint(retry_timeline + "~1")
    print(f"escalate_vlm ran with {json.dumps(recorded_by.get('config'))}")
    strict_diff = store.diff(timeline, strict, stages=["report"])
    print(f"report, {timeline} -> {strict}: {strict_diff['stages'][0]['status']}")

    print(json.dumps({
        "job": job,
        "timeline": timeline,
        "checkpoints": [c["id"] for c in checkpoints],
        "replay": replayed,
        "strict": strict,
        "task": done,
        "retryTimeline": retry_timeline,
        "report": report,
        "retryConfig": recorded_by.get("config"),
    }))


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit("usage: media_flow.py URL JOB")
    try:
        main(sys.argv[1], sys.argv[2])
    except CkptError as err:
        print(f"ckpt serve answered {err.status} {err.code}: {err.message}", file=sys.stderr)
        sys.exit(1)

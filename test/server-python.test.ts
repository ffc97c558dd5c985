import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { ckpt, ckptIn, jsonLines } from './support/cli.js'
import { startServe } from './support/server.js'
import { tempDir } from './support/temp.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const PIPELINE = path.join(root, 'dist/docs/examples/video-pipeline/pipeline.js')
const PYTHON_DIR = path.join(root, 'docs/examples/python')
const FAST = JSON.stringify({ ocr: { stall_first_attempt: false }, escalate_vlm: { latency_ms: 0 } })
const TOKEN = 'python-client-token'

/** Runs python3 with the client's folder on its path; fails the test with its stderr when it fails. */
function python(args: string[], env: Record<string, string> = {}): string {
  const result = spawnSync('python3', args, { cwd: PYTHON_DIR, env: { ...process.env, PYTHONPATH: PYTHON_DIR, ...env }, encoding: 'utf8', timeout: 120_000 })
  if (result.error) throw result.error
  expect(result.status, `python3 ${args.join(' ')}:\n${result.stdout}\n${result.stderr}`).toBe(0)
  return result.stdout
}

/** A store where job video-17's first run failed at escalate_vlm, on its own timeline. */
function jobStore(): string {
  const dir = tempDir()
  ckptIn(dir)('init')
  expect(ckpt(dir, ['run', PIPELINE, '--job', 'video-17', '--timeline', 'video-17', '--config', FAST]).code).toBe(10)
  return dir
}

describe('a Python client using only the standard library', () => {
  it("runs the media pipeline's flow: list the job's checkpoints, replay with overrides, queue a delayed retry, poll it, read the new report", async () => {
    const dir = jobStore()
    const server = await startServe(dir, ['--pipeline', PIPELINE], { CKPT_TOKEN: TOKEN })
    const printed = python(['media_flow.py', server.url, 'video-17'], { CKPT_TOKEN: TOKEN })
    const summary = JSON.parse(printed.trim().split('\n').pop() as string) as {
      checkpoints: string[]
      replay: { runId: string; status: string; counts: { executed: number; reused: number; failed: number } }
      strict: string
      task: { state: string; runId: string; runAt: string; started: string }
      retryTimeline: string
      report: unknown
      retryConfig: { model: string }
    }
    const c = ckptIn(dir)
    expect(summary.checkpoints).toEqual(jsonLines(c('log', 'video-17', '--job', 'video-17', '--json')).map((x) => x.id))
    expect(summary.replay).toMatchObject({ status: 'succeeded', counts: { failed: 0 } })
    expect(summary.replay.counts.reused).toBe(2) // extract_frames and detect_objects come before ocr
    expect(jsonLines(c('runs', '--timeline', summary.strict, '--json')).map((r) => r.runId)).toEqual([summary.replay.runId])
    // The retry ran once, no sooner than its delay, with the other model.
    expect(summary.task.state).toBe('succeeded')
    expect(Date.parse(summary.task.started)).toBeGreaterThanOrEqual(Date.parse(summary.task.runAt))
    expect(summary.retryConfig.model).toBe('vlm-small')
    expect(jsonLines(c('runs', '--timeline', summary.retryTimeline, '--json')).map((r) => [r.runId, r.status])).toEqual([[summary.task.runId, 'succeeded']])
    expect(JSON.parse(c('cat', `${summary.retryTimeline}:report`, '--json'))).toEqual(summary.report)
  }, 120_000)

  it('commits JSON and bytes (multipart built with the standard library) that the CLI reads back, and gets errors with their code', async () => {
    const dir = jobStore()
    const server = await startServe(dir, [], { CKPT_TOKEN: TOKEN })
    const script = `
import json, sys
from ckpt_client import Ckpt, CkptError
store = Ckpt(sys.argv[1], token=sys.argv[2])
frame = bytes(range(256)) * 40
first = store.commit(outputs={"labels": {"cat": 2}}, stage="labels", message="from python", timeline="video-17", runId="py-7")
second = store.commit(files={"frame": ("frame-0001.png", frame)}, stage="frame", message="bytes from python", timeline="video-17", expectedHead=first["id"])
try:
    store.commit(outputs={"labels": {}}, timeline="video-17", expectedHead=first["id"])
    conflict = None
except CkptError as err:
    conflict = [err.status, err.code]
try:
    Ckpt(sys.argv[1]).commit(outputs={"labels": {}})
    unauthorized = None
except CkptError as err:
    unauthorized = [err.status, err.code]
try:
    store.checkpoint("nosuch")
    missing = None
except CkptError as err:
    missing = [err.status, err.code]
print(json.dumps({"first": first["id"], "second": second["id"], "files": second.get("files"), "back": store.output("video-17", "frame") == frame,
                  "conflict": conflict, "unauthorized": unauthorized, "missing": missing}))
`
    const result = JSON.parse(python(['-c', script, server.url, TOKEN]).trim()) as Record<string, unknown>
    expect(result).toMatchObject({ files: { frame: 'frame-0001.png' }, back: true, conflict: [409, 'REF_CONFLICT'], unauthorized: [401, 'UNAUTHORIZED'], missing: [404, 'NOT_FOUND'] })
    const c = ckptIn(dir)
    expect(c('rev-parse', 'video-17')).toBe(result.second)
    expect(JSON.parse(c('cat', 'video-17:labels', '--json'))).toEqual({ cat: 2 })
    const frame = ckpt(dir, ['cat', 'video-17:frame']).raw
    expect(Buffer.compare(frame, Buffer.concat(Array.from({ length: 40 }, () => Buffer.from(Array.from({ length: 256 }, (_, i) => i)))))).toBe(0)
  }, 120_000)
})

import { spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { CKPT, ckpt as run, jsonLines } from './support/cli.js'
import { tempDir } from './support/temp.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const PIPELINE = path.join(root, 'dist/docs/examples/video-pipeline/pipeline.js')

function ckpt(cwd: string, ...args: string[]) {
  return run(cwd, args)
}

describe('ckpt run, resume, replay, plan, audit', () => {
  it('runs the video pipeline, resumes it after the flaky stage fails, replays with a new config', () => {
    const dir = tempDir()
    ckpt(dir, 'init')
    const first = ckpt(dir, 'run', PIPELINE, '--json')
    expect(first.code).toBe(10)
    const result = jsonLines(first.stdout).find((l) => l.type === 'result') as { runId: string; stages: Array<{ stage: string; status: string }> }
    expect(result.stages.map((s) => `${s.stage}=${s.status}`)).toEqual([
      'extract_frames=succeeded',
      'detect_objects=succeeded',
      'ocr=succeeded',
      'match_brands=succeeded',
      'escalate_vlm=failed',
      'report=skipped',
    ])
    const planned = ckpt(dir, 'plan', PIPELINE, '--run', result.runId)
    expect(planned.stdout).toMatch(/escalate_vlm +run +failed last time\nreport +run +upstream changed \(escalate_vlm runs\)\n$/)

    const resumed = ckpt(dir, 'resume', PIPELINE, '--run', result.runId, '--json')
    expect(resumed.code).toBe(0)
    const started = jsonLines(resumed.stdout).filter((e) => e.type === 'stage-started').map((e) => e.stage)
    expect(started).toEqual(['escalate_vlm', 'report'])

    const audit = jsonLines(ckpt(dir, 'audit', result.runId, '--json').stdout)
    expect(audit.map((e) => `${e.stage}:${e.status}`)).toEqual([
      'extract_frames:succeeded',
      'detect_objects:succeeded',
      'ocr:failed', // its first attempt timed out (the demo's stalled service), the second succeeded
      'ocr:succeeded',
      'match_brands:succeeded',
      'escalate_vlm:failed',
      'escalate_vlm:succeeded',
      'report:succeeded',
    ])
    expect(audit[2]).toMatchObject({ attempt: 1, timedOut: true })
    expect(audit[5]?.error).toMatchObject({ message: 'vlm-large timed out after 300 ms' })
    expect(ckpt(dir, 'audit', result.runId).stdout).toMatch(/escalate_vlm +failed +\d+ ms +vlm-large timed out/)

    const config = JSON.stringify({ ocr: { min_confidence: 0.9 }, escalate_vlm: { fail_first_attempt: false } })
    const replayPlan = ckpt(dir, 'plan', PIPELINE, '--replay', 'ocr', '--config', config).stdout
    expect(replayPlan).toMatch(/^extract_frames +skip +kept: runs before ocr .*\ndetect_objects +skip .*\nocr +run +config changed +\(retries 2, timeout 250 ms\)\n/)
    const replayed = ckpt(dir, 'replay', PIPELINE, '--from', 'ocr', '--config', config, '-t', 'strict-ocr')
    expect(replayed.code).toBe(0)
    expect(replayed.stdout).toContain('extract_frames   completed-earlier')
    expect(ckpt(dir, 'diff', 'main', 'strict-ocr', '--name-only', '--exit-code')).toMatchObject({ code: 1, stdout: 'escalate_vlm\nmatch_brands\nocr\nreport\n' })
    expect(ckpt(dir, 'log', '--all', '--oneline').stdout.trim().split('\n')).toHaveLength(10)
  })

  it('continues from the checkpoint HEAD was checked out at', () => {
    const dir = tempDir()
    ckpt(dir, 'init')
    ckpt(dir, 'run', PIPELINE, '--config', JSON.stringify({ escalate_vlm: { fail_first_attempt: false, latency_ms: 0 } }))
    expect(ckpt(dir, 'checkout', 'main~2', '-b', 'again').code).toBe(0)
    const continued = ckpt(dir, 'resume', PIPELINE, '--no-reuse', '--json')
    expect(continued.code).toBe(10) // the flaky stage fails on its first attempt in the new run
    expect(jsonLines(continued.stdout).filter((e) => e.type === 'stage-started').map((e) => e.stage)).toEqual(['escalate_vlm'])
  })

  it('runs every stage with --no-checkpoint and leaves the store as it was', () => {
    const dir = tempDir()
    ckpt(dir, 'init')
    const config = JSON.stringify({ escalate_vlm: { fail_first_attempt: false, latency_ms: 0 } })
    ckpt(dir, 'run', PIPELINE, '--config', config)
    const before = [ckpt(dir, 'log', '--all', '--json').stdout, ckpt(dir, 'reflog', 'main').stdout, ckpt(dir, 'timeline', '--json').stdout, ckpt(dir, 'fsck', '--json').stdout]
    const dry = ckpt(dir, 'run', PIPELINE, '--no-checkpoint', '--no-reuse', '-t', 'dry', '--config', config, '--json')
    expect(dry.code).toBe(0)
    const events = jsonLines(dry.stdout)
    expect(events.filter((e) => e.type === 'stage-started')).toHaveLength(6)
    expect(events.find((e) => e.type === 'result')).toMatchObject({ status: 'succeeded', recorded: false, head: null })
    expect(events.some((e) => e.type === 'checkpoint-written')).toBe(false)
    const after = [ckpt(dir, 'log', '--all', '--json').stdout, ckpt(dir, 'reflog', 'main').stdout, ckpt(dir, 'timeline', '--json').stdout, ckpt(dir, 'fsck', '--json').stdout]
    expect(after).toEqual(before)
  })

  it('replays under the job of the run it replays, or the one --job names', () => {
    const dir = tempDir()
    ckpt(dir, 'init')
    const config = JSON.stringify({ escalate_vlm: { fail_first_attempt: false, latency_ms: 0 } })
    expect(ckpt(dir, 'run', PIPELINE, '--config', config, '--job', 'video-17').code).toBe(0)
    expect(ckpt(dir, 'replay', PIPELINE, '--from', 'ocr', '-t', 'kept', '--config', config).code).toBe(0)
    expect(jsonLines(ckpt(dir, 'show', 'kept', '--json').stdout)[0]).toMatchObject({ job: 'video-17' })
    expect(ckpt(dir, 'replay', PIPELINE, '--from', 'ocr', '-t', 'moved', '--job', 'video-18', '--config', config).code).toBe(0)
    expect(jsonLines(ckpt(dir, 'show', 'moved', '--json').stdout)[0]).toMatchObject({ job: 'video-18' })
  })

  it('names the stage and key of every pipeline problem, and a missing run', () => {
    const dir = tempDir()
    ckpt(dir, 'init')
    const bad = path.join(dir, 'bad.mjs')
    writeFileSync(
      bad,
      `export default { name: 'bad', stages: [{ name: 'x', reads: ['missing'], writes: ['y'], version: '1', run: async () => ({}) }] }\n`,
    )
    const err = ckpt(dir, 'run', bad)
    expect(err.code).toBe(2)
    expect(err.stderr).toContain('stage "x" reads "missing", which no pipeline input or upstream stage writes')
    expect(ckpt(dir, 'resume', PIPELINE, '--run', 'no-such-run').code).toBe(4)
    expect(ckpt(dir, 'run', path.join(dir, 'nothing.mjs')).code).toBe(4) // NOT_FOUND, naming the file
  })
})

describe('ckpt run with a pipeline module that imports the package', () => {
  // The command is one bundle; the module gets the package's own build, whose classes are other
  // objects. What it makes must still be what it says: a Directory, an INVALID_OUTPUT error.
  it('stores a Directory the module made as a folder, and does not retry the INVALID_OUTPUT it threw', () => {
    const dir = tempDir()
    ckpt(dir, 'init')
    const pipeline = path.join(dir, 'package-pipeline.mjs')
    writeFileSync(pipeline, [
      `import { CkptError, Directory } from ${JSON.stringify(pathToFileURL(path.join(root, 'dist/src/index.js')).href)}`,
      'export default { name: "pkg", stages: [',
      '  { name: "files", version: "1", writes: ["files"], run: () => new Directory({ "a.txt": new TextEncoder().encode("hi") }) },',
      '  { name: "bad", version: "1", writes: ["bad"], after: ["files"], retries: 3, run: () => { throw new CkptError("INVALID_OUTPUT", "no good") } },',
      '] }',
      '',
    ].join('\n'))
    const result = ckpt(dir, 'run', pipeline, '--json')
    expect(result.code).toBe(10)
    const done = jsonLines(result.stdout).find((l) => l.type === 'result') as { runId: string }
    expect(ckpt(dir, 'cat', 'HEAD:files/a.txt').stdout).toBe('hi')
    // One attempt of three allowed: INVALID_OUTPUT is not worth retrying.
    const audit = jsonLines(ckpt(dir, 'audit', done.runId, '--json').stdout) as Array<{ stage: string; status: string }>
    expect(audit.filter((e) => e.stage === 'bad')).toEqual([expect.objectContaining({ status: 'failed', attempt: 1 })])
  })
})

describe('docs/examples/shell-pipeline.sh (docs/resume.md)', () => {
  it('resumes at the stage that crashed, reusing the one that finished', () => {
    const dir = tempDir()
    const bin = path.join(dir, 'bin')
    mkdirSync(bin)
    writeFileSync(path.join(bin, 'ckpt'), `#!/bin/sh\nexec "${process.execPath}" "${CKPT}" "$@"\n`)
    chmodSync(path.join(bin, 'ckpt'), 0o755)
    const script = path.join(root, 'docs/examples/shell-pipeline.sh')
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, NO_COLOR: '1', CKPT_DIR: path.join(dir, '.ckpt') }
    const sh = (extra: Record<string, string> = {}) => spawnSync('sh', [script], { cwd: dir, encoding: 'utf8', env: { ...env, ...extra } })
    expect(spawnSync('sh', ['-c', 'ckpt init'], { cwd: dir, env }).status).toBe(0)
    const crashed = sh({ CRASH_AT: 'transform' })
    expect(crashed.status).toBe(3)
    expect(crashed.stdout).toBe('extract: ran\n')
    const resumed = sh()
    expect(resumed.status).toBe(0)
    expect(resumed.stdout).toBe('extract: reused\ntransform: ran\nHELLO CHECKPOINTS\n')
    expect(sh().stdout).toBe('extract: reused\ntransform: reused\nHELLO CHECKPOINTS\n')
    // A value with quotes, a backslash and a newline survives the round trip: JSON is built with jq.
    const awkward = sh({ INPUT: 'say "hi" \\ back\nnext', RUN: 'shell-run-2' })
    expect(awkward.status, awkward.stderr).toBe(0)
    expect(awkward.stdout).toBe('extract: ran\ntransform: ran\nSAY "HI" \\ BACK\nNEXT\n')
  })
})

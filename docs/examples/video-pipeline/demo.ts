/**
 * The README's main job: the video pipeline on a fresh store in a temporary folder.
 *   1. A first run: ocr's first attempt stalls, times out and is retried; the run then fails at
 *      escalate_vlm (the simulated VLM times out on its first attempt).
 *   2. resume() finishes it: only escalate_vlm and report execute.
 *   3. replay() re-runs from ocr with a stricter config on a new timeline; the stages before ocr
 *      keep their outputs.
 *   4. The real `ckpt` command shows the history and how the two reports differ.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { initStore, replay, resume, run, type PipelineEvent, type RunResult } from '../../../src/index.js'
import { defaultInputs, pipeline } from './pipeline.js'

const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'ckpt-video-')), '.ckpt')
const store = await initStore(dir, { author: 'demo' })
const executed: string[] = []
const onEvent = (event: PipelineEvent) => {
  if (event.type === 'stage-started') executed.push(event.stage)
}
const summary = (result: RunResult) => result.stages.map((s) => `${s.stage}=${s.status}`).join(', ')
const step = (title: string) => console.log(`\n== ${title}`)

step('run: the first attempt')
const onRetry = (event: PipelineEvent) => {
  onEvent(event)
  if (event.type === 'stage-retrying') console.log(`  ${event.stage}: attempt ${event.attempt} failed (${event.error}); retrying in ${event.delayMs} ms`)
}
const first = await run({ store, pipeline, inputs: defaultInputs(), onEvent: onRetry })
console.log(`run ${first.runId}: ${first.status}\n  ${summary(first)}`)

step('resume: continue the failed run')
executed.length = 0
const resumed = await resume({ store, pipeline, runId: first.runId, onEvent })
console.log(`run ${resumed.runId}: ${resumed.status}; executed only: ${executed.join(', ')}`)

step('replay from ocr with min_confidence 0.9 on timeline strict-ocr')
executed.length = 0
const strict = await replay({
  store,
  pipeline,
  runId: first.runId,
  startStage: 'ocr',
  timeline: 'strict-ocr',
  config: { ocr: { min_confidence: 0.9 }, escalate_vlm: { fail_first_attempt: false } },
  onEvent,
})
console.log(`run ${strict.runId}: ${strict.status}; executed: ${executed.join(', ')}`)
await store.close()

const ckpt = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../cli/main.js')
const show = (...args: string[]) => {
  console.log(`\n$ ckpt ${args.join(' ')}`)
  process.stdout.write(execFileSync(process.execPath, [ckpt, '--store', dir, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } }))
}
show('logs', first.runId, 'ocr')
show('log', '--graph', '--all', '--oneline')
show('diff', 'main', 'strict-ocr', '--stage', 'report')
console.log(`\nThe store is at ${dir}; try: npx ckpt --store ${dir} audit ${first.runId}`)

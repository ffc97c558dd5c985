/**
 * A short tour of the library: commit a few stage outputs to a store in a temporary folder,
 * fork a timeline with a different config, then print the log and a diff.
 * Run it with `npm run demo` (after `npm ci`).
 */
import { mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { initStore } from '../../src/index.js'

const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'ckpt-demo-')), '.ckpt')
const store = await initStore(dir, { author: 'demo' })

// A pipeline run records one checkpoint per stage; bytes inside outputs become blobs.
const frames = Array.from({ length: 3 }, (_, i) => new Uint8Array(1024).fill(i))
await store.commit({ stage: 'extract_frames', output: { fps: 2, frames }, run: 'run-1', message: 'extracted 3 frames' })
await store.commit({
  stage: 'detect_objects',
  output: { detections: [{ frame: 0, label: 'logo', score: 0.71 }, { frame: 2, label: 'bottle', score: 0.55 }] },
  run: 'run-1',
  config: { threshold: 0.5 },
})
const report = await store.commit({ stage: 'report', output: { brands: ['acme'], flagged: false }, run: 'run-1' })

// Another run forks a timeline from the frames checkpoint and re-runs detection with another config.
await store.timelines.create('high-threshold', 'main~2')
await store.commit({
  timeline: 'high-threshold',
  stage: 'detect_objects',
  output: { detections: [{ frame: 0, label: 'logo', score: 0.83 }] },
  run: 'run-2',
  config: { threshold: 0.8 },
})

console.log(`store: ${dir}\n`)
for (const timeline of await store.timelines.list()) {
  console.log(`timeline ${timeline.name}${timeline.current ? ' (HEAD)' : ''}`)
  for await (const c of store.log(timeline.name)) {
    console.log(`  ${c.shortId}  ${c.stage?.padEnd(15)} ${c.run}  ${c.message}`)
  }
}

const diff = await store.diff('main', 'high-threshold')
console.log(`\ndiff main high-threshold: ${JSON.stringify(diff.summary)}`)
for (const stage of diff.stages.filter((s) => s.status !== 'unchanged')) {
  console.log(`  ${stage.status.padEnd(8)} ${stage.stage}`)
  for (const change of stage.changes ?? []) {
    const from = 'oldValue' in change ? JSON.stringify(change.oldValue) : ''
    const to = 'value' in change ? JSON.stringify(change.value) : ''
    console.log(`    ${change.op.padEnd(7)} ${change.path}  ${from}${from && to ? ' → ' : ''}${to}`)
  }
}

const { outputs } = await store.restore(report.id)
console.log(`\nrestore ${report.shortId}: stages ${Object.keys(outputs).join(', ')}; frame 2 has ${(outputs.extract_frames as { frames: Uint8Array[] }).frames[2]?.length} bytes`)
await store.close()

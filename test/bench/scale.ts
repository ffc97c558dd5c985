/**
 * The scale-of-one-operation workloads of `npm run bench` (issue 18 item 13): checking out a
 * directory output of many small files beside `cp -r` of the same tree, and diffing two JSON
 * outputs holding a million-item array with 10 items removed. Each runs in its own process for
 * its peak RSS.
 */
import { execFileSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { peakRssOfChild } from './baselines.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const CHECKOUT = path.join(here, 'checkout-child.js')
const ARRAY_DIFF = path.join(here, '../fixtures/array-diff.js')

export interface CheckoutFigures {
  readonly files: number
  readonly seconds: number
  readonly peakRssBytes: number
  readonly cpSeconds: number
}

/** `checkout main --to` of a `files`-file directory output, and `cp -r` of the tree it was committed from. */
export async function directoryCheckoutBench(work: string, files: number): Promise<CheckoutFigures> {
  const store = path.join(work, 'checkout-store')
  const source = path.join(work, 'checkout-source')
  await peakRssOfChild(CHECKOUT, ['commit', store, source, String(files)])
  const target = path.join(work, 'checkout-target')
  const run = await peakRssOfChild(CHECKOUT, ['checkout', store, target])
  const result = JSON.parse(run.stdout) as { seconds: number; files: number }
  if (result.files !== files) throw new Error(`checkout wrote ${result.files} files, not ${files}`)
  const copy = path.join(work, 'checkout-copy')
  const start = process.hrtime.bigint()
  execFileSync('cp', ['-r', source, copy], { stdio: ['ignore', 'ignore', 'pipe'] })
  const cpSeconds = Number(process.hrtime.bigint() - start) / 1e9
  for (const dir of [store, source, target, copy]) rmSync(dir, { recursive: true, force: true })
  return { files, seconds: result.seconds, peakRssBytes: run.peakRssBytes, cpSeconds }
}

export interface ArrayDiffFigures {
  readonly length: number
  readonly removed: number
  readonly seconds: number
  readonly changes: number
  readonly peakRssBytes: number
}

/** `diff` of two stored outputs `{items: [...]}` of `length` items, the second with `removed` items taken from the middle. */
export async function arrayDiffBench(work: string, length: number, removed: number): Promise<ArrayDiffFigures> {
  const store = path.join(work, 'array-diff-store')
  execFileSync(process.execPath, [ARRAY_DIFF, 'commit', store, String(length), String(removed)], { stdio: ['ignore', 'ignore', 'pipe'] })
  const run = await peakRssOfChild(ARRAY_DIFF, ['diff', store])
  const result = JSON.parse(run.stdout) as { seconds: number; changes: number }
  rmSync(store, { recursive: true, force: true })
  return { length, removed, seconds: result.seconds, changes: result.changes, peakRssBytes: run.peakRssBytes }
}

import path from 'node:path'
import { readFileSync } from 'node:fs'
import { Readable } from 'node:stream'
import { CarWriter } from '@ipld/car'
import * as dagJson from '@ipld/dag-json'
import type { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import { createMemoryBackend, run } from '../src/index.js'
import { countingPipeline, freshKnobs } from './fixtures/counting-pipeline.js'
import { ckpt, jsonLines } from './support/cli.js'
import { failure } from './support/errors.js'
import { collect, memoryStore, tempDir } from './support/temp.js'
import { DAG_JSON_CODE, cidOf } from '../src/model/cid.js'

/** A CAR of a chain of checkpoint nodes as an older ckpt wrote them: no `seq` field. */
async function oldChainCar(length: number): Promise<{ car: Uint8Array; head: CID }> {
  const blocks: Array<{ cid: CID; bytes: Uint8Array }> = []
  let parent: CID | undefined
  for (let i = 0; i < length; i++) {
    const bytes = dagJson.encode({ type: 'checkpoint', v: 1, parents: parent ? [parent] : [], stages: {}, message: `old ${i}`, author: 'old', time: 1_700_000_000_000 + i, meta: {} })
    parent = cidOf(DAG_JSON_CODE, bytes)
    blocks.push({ cid: parent, bytes })
  }
  const head = parent as CID
  const { writer, out } = CarWriter.create([head])
  const chunks: Uint8Array[] = []
  const reading = (async () => {
    for await (const chunk of out) chunks.push(chunk)
  })()
  for (const block of blocks) await writer.put(block)
  await writer.close()
  await reading
  return { car: Buffer.concat(chunks), head }
}

describe('sequence numbers', () => {
  it('numbers checkpoints along first parents, forks and merges included', async () => {
    const store = await memoryStore()
    const a = await store.commit({ stage: 's', output: 1 })
    const b = await store.commit({ stage: 's', output: 2 })
    const c = await store.commit({ stage: 's', output: 3 })
    expect([a.seq, b.seq, c.seq]).toEqual([1, 2, 3])
    await store.timelines.create('side', b.id)
    const side = await store.commit({ stage: 's', output: 'side', timeline: 'side' })
    expect(side.seq).toBe(3)
    const merge = await store.commit({ stage: 's', output: 4, parents: [c.id, side.id] })
    expect(merge.seq).toBe(4)
    expect((await collect(store.log('main', { firstParent: true }))).map((x) => x.seq)).toEqual([4, 3, 2, 1])
    expect((await store.getCheckpoint('main#2')).id).toBe(b.id)
    expect((await store.getCheckpoint('side#3')).id).toBe(side.id)
    expect((await store.getCheckpoint('main#3~1')).id).toBe(b.id)
    expect(await store.getOutput('main#1:s')).toBe(1)
    expect((await failure(store.getCheckpoint('main#0'))).code).toBe('INVALID_REVISION')
    expect((await failure(store.getCheckpoint('main#x'))).code).toBe('INVALID_REVISION')
    const beyond = await failure(store.getCheckpoint('main#9'))
    expect(beyond.code).toBe('NOT_FOUND')
    expect(beyond.message).toContain('#1 to #4')
  })

  it('counts checkpoints written before numbers were stored, and numbers the next commit after them', async () => {
    const backend = createMemoryBackend()
    const store = await memoryStore(backend)
    const { car, head } = await oldChainCar(30)
    await store.importCar(Readable.from([car]))
    let reads = 0
    const get = backend.objects.get.bind(backend.objects)
    backend.objects.get = (key) => {
      reads++
      return get(key)
    }
    await store.timelines.create('old', head.toString())
    expect((await store.getCheckpoint('old')).seq).toBe(30)
    expect((await collect(store.log('old'))).map((c) => c.seq)).toEqual(Array.from({ length: 30 }, (_, i) => 30 - i))
    // Counted once: each node is read about once, not once per checkpoint above it.
    expect(reads).toBeLessThanOrEqual(60)
    expect((await store.getCheckpoint('old#1')).message).toBe('old 0')
    const next = await store.commit({ stage: 's', output: 1, timeline: 'old' })
    expect(next.seq).toBe(31)
  })

  it('lets a run continue from a numbered checkpoint', async () => {
    const store = await memoryStore()
    const knobs = freshKnobs()
    await run({ store, pipeline: countingPipeline(knobs), inputs: { seed: 1 } })
    knobs.executions.clear()
    const again = await run({ store, pipeline: countingPipeline(knobs), from: 'main#3', timeline: 'from-3', reuse: false })
    expect(again.status).toBe('succeeded')
    expect([...knobs.executions.keys()].sort()).toEqual(['d', 'e'])
  })
})

describe('sequence numbers in the CLI', () => {
  it('shows them in log and show, and checks out, writes and reads by them', () => {
    const dir = tempDir()
    ckpt(dir, ['init'])
    for (const n of [1, 2, 3]) ckpt(dir, ['commit', '-s', 'n', '--json', String(n)])
    expect(jsonLines(ckpt(dir, ['log', '--json']).stdout).map((c) => c.seq)).toEqual([3, 2, 1])
    expect(ckpt(dir, ['show', 'main#2']).stdout).toContain('\nSeq:    #2\n')
    expect(ckpt(dir, ['cat', 'main#2:n']).stdout.trim()).toBe('2')
    const out = path.join(dir, 'out')
    expect(ckpt(dir, ['restore', 'main#1', '--to', out]).code).toBe(0)
    expect(readFileSync(path.join(out, 'n.json'), 'utf8').trim()).toBe('1')
    expect(ckpt(dir, ['checkout', 'main#2']).code).toBe(0)
    expect(ckpt(dir, ['rev-parse', 'HEAD']).stdout).toBe(ckpt(dir, ['rev-parse', 'main~1']).stdout)
    const bad = ckpt(dir, ['show', 'main#0'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('main#0')
    expect(ckpt(dir, ['show', 'main#7']).code).toBe(4)
  })
})

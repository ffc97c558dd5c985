import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { CarWriter } from '@ipld/car'
import { describe, expect, it } from 'vitest'
import { ckpt } from './support/cli.js'
import { collect, tempDir } from './support/temp.js'
import { CID, DAG_JSON_CODE, RAW_CODE, cidOf } from '../src/model/cid.js'
import { encodeNode } from '../src/model/value.js'

/** Hand-made CARs: the bytes a hostile or broken exporter could send, hashed with ckpt's own hashing. */
interface RawBlock { cid: CID; bytes: Uint8Array }

const node = (value: unknown): RawBlock => {
  const bytes = encodeNode(value)
  return { cid: cidOf(DAG_JSON_CODE, bytes), bytes }
}
const raw = (text: string): RawBlock => {
  const bytes = new TextEncoder().encode(text)
  return { cid: cidOf(RAW_CODE, bytes), bytes }
}
const checkpoint = (stages: Record<string, CID>, trees: string[] = [], extra: Record<string, unknown> = {}) =>
  node({ type: 'checkpoint', v: 1, parents: [], stages, message: 'hostile', author: 'x', time: 1, meta: {}, ...(trees.length > 0 && { trees }), ...extra })

async function writeCar(blocks: RawBlock[], heads: CID[], refs: Record<string, CID>): Promise<string> {
  const refsBlock = node({ type: 'ckpt-refs', v: 1, refs })
  const { writer, out } = CarWriter.create([...heads, refsBlock.cid])
  const bytes = collect(out)
  await writer.put(refsBlock)
  for (const block of blocks) await writer.put(block)
  await writer.close()
  const file = path.join(tempDir(), 'hostile.car')
  writeFileSync(file, Buffer.concat(await bytes))
  return file
}

function freshStore(): string {
  const dir = tempDir()
  expect(ckpt(dir, ['init']).code).toBe(0)
  return dir
}

function expectRefused(dir: string, file: string, exit: number): void {
  const result = ckpt(dir, ['import', file])
  expect(result.code, result.stderr).toBe(exit)
  const timelines = ckpt(dir, ['timeline'])
  expect(timelines.code, timelines.stderr).toBe(0)
  expect(timelines.stdout).not.toMatch(/main/)
  expect(ckpt(dir, ['log'])).toMatchObject({ code: 0, stdout: '' }) // nothing recorded
  expect(ckpt(dir, ['fsck']).code).toBe(0)
}

const hostileNames: Array<[string, string]> = [['parent path', '../../x'], ['absolute path', '/abs'], ['empty', ''], ['NUL', 'a\u0000b']]

describe('names that arrive in a CAR are checked like names a user types', () => {
  for (const [label, name] of hostileNames) {
    it(`refuses a checkpoint whose stage name is ${label} (CORRUPT_OBJECT, exit 8, no ref)`, async () => {
      const dir = freshStore()
      const blob = raw('payload')
      const head = checkpoint({ [name]: blob.cid })
      expectRefused(dir, await writeCar([head, blob], [head.cid], { 'timelines/main': head.cid }), 8)
    })

    it(`refuses a directory output whose entry is ${label} (CORRUPT_OBJECT, exit 8, no ref)`, async () => {
      const dir = freshStore()
      const blob = raw('payload')
      const leaf = node({ tree: 'leaf', entries: [[name, blob.cid, blob.bytes.length]] })
      const head = checkpoint({ files: leaf.cid }, ['files'])
      expectRefused(dir, await writeCar([head, leaf, blob], [head.cid], { 'timelines/main': head.cid }), 8)
    })
  }
})

describe('every ref a CAR sets names a checkpoint whose closure is present', () => {
  it('refuses a ref to a checkpoint that is neither in the CAR nor in the store', async () => {
    const dir = freshStore()
    const blob = raw('payload')
    const head = checkpoint({ x: blob.cid })
    const elsewhere = checkpoint({ y: blob.cid })
    expectRefused(dir, await writeCar([head, blob], [head.cid], { 'timelines/main': elsewhere.cid }), 4)
  })

  it('refuses a ref to a raw blob', async () => {
    const dir = freshStore()
    const blob = raw('payload')
    const head = checkpoint({ x: blob.cid })
    expectRefused(dir, await writeCar([head, blob], [head.cid], { 'timelines/main': blob.cid }), 8)
  })

  it('refuses a ref to a checkpoint in the CAR whose output is missing', async () => {
    const dir = freshStore()
    const blob = raw('payload')
    const head = checkpoint({ x: blob.cid })
    const partial = checkpoint({ y: raw('absent').cid })
    expectRefused(dir, await writeCar([head, partial, blob], [head.cid], { 'timelines/main': partial.cid }), 4)
  })
})

describe('run and job ids that arrive in a CAR are checked like ids given to commit', () => {
  const hostileIds: Array<[string, string]> = [['NUL', 'a\u0000b'], ['a terminal escape', '\u001b[2Jx'], ['over 255 bytes', 'r'.repeat(256)], ['empty', '']]
  for (const field of ['run', 'job'] as const) {
    for (const [label, id] of hostileIds) {
      it(`refuses a checkpoint whose ${field} id is ${label} (CORRUPT_OBJECT, exit 8, no ref)`, async () => {
        const dir = freshStore()
        const blob = raw('payload')
        const head = checkpoint({ x: blob.cid }, [], { [field]: id })
        expectRefused(dir, await writeCar([head, blob], [head.cid], { 'timelines/main': head.cid }), 8)
      })
    }
  }

  it('imports a run id that looks like a path ("../../x") as plain text, which show, log and log --json print', async () => {
    const dir = freshStore()
    const blob = raw('payload')
    const head = checkpoint({ x: blob.cid }, [], { run: '../../x', job: '/abs' })
    expect(ckpt(dir, ['import', await writeCar([head, blob], [head.cid], { 'timelines/main': head.cid })]).code).toBe(0)
    expect(ckpt(dir, ['show']).stdout).toContain('Run: ../../x   Job: /abs')
    expect(ckpt(dir, ['log']).code).toBe(0)
    const json = ckpt(dir, ['log', '--json'])
    expect(JSON.parse(json.stdout.trim())).toMatchObject({ run: '../../x', job: '/abs' })
  })

  it('commit refuses a run or job id with a control character or over 255 bytes (INVALID_ARGUMENT, exit 2), writing nothing', () => {
    const dir = freshStore()
    for (const args of [['--run', 'a\u001bb'], ['--job', 'a\tb'], ['--run', 'r'.repeat(256)]]) {
      expect(ckpt(dir, ['commit', '-s', 'x', '--json', '1', ...args]).code).toBe(2)
    }
    expect(ckpt(dir, ['log'])).toMatchObject({ code: 0, stdout: '' }) // the timeline has no checkpoints
    expect(ckpt(dir, ['commit', '-s', 'x', '--json', '1', '--run', 'team/r-42', '--job', 'r'.repeat(255)]).code).toBe(0)
  })
})

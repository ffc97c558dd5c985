import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { CkptError, Directory, type Store } from '../../src/index.js'
import { ckpt } from '../support/cli.js'
import { failure } from '../support/errors.js'
import { collect, tempDir, tempStore } from '../support/temp.js'
import { SCALE } from './scale.js'

/** Objects and main's reflog length: what "nothing was written" compares. */
async function footprint(store: Store): Promise<{ objects: number; reflog: number }> {
  return { objects: (await collect(store.objects())).length, reflog: (await store.reflog('main')).length }
}

/** The call fails with `code`, in one short message, and leaves the store as it was. */
async function refusedCleanly(store: Store, call: () => Promise<unknown>, code: string): Promise<CkptError> {
  const before = await footprint(store)
  const err = await failure(call())
  expect(err.code).toBe(code)
  expect(err.message.length).toBeLessThan(400)
  expect(await footprint(store)).toEqual(before)
  return err
}

function nested(levels: number, wrap: (inner: unknown) => unknown): unknown {
  let value: unknown = 'bottom'
  for (let i = 0; i < levels; i++) value = wrap(value)
  return value
}

describe('hostile JSON outputs', () => {
  it('refuses 100,000 levels of nesting, arrays or objects, with a short message and nothing written', async () => {
    const { store } = await tempStore()
    await store.commit({ stage: 'seed', output: 1 })
    for (const wrap of [(v: unknown) => [v], (v: unknown) => ({ a: v })]) {
      const err = await refusedCleanly(store, () => store.commit({ stage: 'deep', output: nested(100_000, wrap) }), 'INVALID_OUTPUT')
      expect(err.message).toMatch(/nesting deeper than 1000 levels/)
    }
  })

  it('refuses 100,000 levels given to the ckpt command, exiting 2 with one line', () => {
    const dir = tempDir()
    expect(ckpt(dir, ['init']).code).toBe(0)
    const deep = '['.repeat(100_000) + ']'.repeat(100_000)
    const r = ckpt(dir, ['commit', '-s', 'deep', '--as', 'json', '-'], { input: deep })
    expect(r.code).toBe(2)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(ckpt(dir, ['log', '--json']).stdout).toBe('')
  })

  it(`stores a string of ${SCALE.hugeStringChars / 2 ** 20} Mi characters and reads it back`, async () => {
    const { store } = await tempStore()
    const huge = 'ab'.repeat(SCALE.hugeStringChars / 2)
    const c = await store.commit({ stage: 'huge', output: { huge } })
    const back = (await store.getOutput(`${c.id}:huge`)) as { huge: string }
    expect(back.huge.length).toBe(huge.length)
    expect(back.huge === huge).toBe(true)
  }, SCALE.timeoutMs)

  it('refuses unpaired surrogates in values and in keys, and nothing is written', async () => {
    const { store } = await tempStore()
    await store.commit({ stage: 'seed', output: 1 })
    for (const output of [{ a: 'x\ud800y' }, { ['k\udc00']: 1 }, ['\udfff'], { a: { b: ['ok', 'bad\ud83d'] } }]) {
      await refusedCleanly(store, () => store.commit({ stage: 's', output }), 'INVALID_OUTPUT')
    }
  })

  it('stores __proto__, constructor and prototype keys as data, and pollutes nothing', async () => {
    const { store } = await tempStore()
    const output = JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}, "x": 1}') as object
    const c = await store.commit({ stage: 's', output })
    const back = (await store.getOutput(`${c.id}:s`)) as Record<string, unknown>
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype)
    expect(Object.keys(back).sort()).toEqual(['__proto__', 'constructor', 'x'])
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined()
  })
})

describe('hostile names', () => {
  const long = 'x'.repeat(10_000)

  it('refuses bad stage names, naming the value, writing nothing', async () => {
    const { store } = await tempStore()
    await store.commit({ stage: 'seed', output: 1 })
    for (const stage of ['..', '.', 'a/b', 'a\\b', 'nul\u0000', 'bell\u0007', 'esc\u001b[31m', long, ' padded', '']) {
      const err = await refusedCleanly(store, () => store.commit({ stage, output: 1 }), 'INVALID_ARGUMENT')
      expect(err.details.name).toBe(stage)
    }
  })

  it('refuses bad timeline and tag names, naming the value, writing nothing', async () => {
    const { store } = await tempStore()
    await store.commit({ stage: 'seed', output: 1 })
    for (const name of ['..', '../x', 'a..b', 'a\\b', 'nul\u0000', 'tab\t', long, 'a b', 'x.lock', '/abs', 'a//b', '@', 'a@{1}']) {
      await refusedCleanly(store, () => store.timelines.create(name), 'INVALID_REF_NAME')
      await refusedCleanly(store, () => store.tags.create(name), 'INVALID_REF_NAME')
      await refusedCleanly(store, () => store.commit({ timeline: name, stage: 's', output: 1 }), 'INVALID_REF_NAME')
    }
  })

  it('refuses file names inside folder outputs that could escape or hide', async () => {
    for (const file of ['../x', '/abs', 'a/../../b', 'a\\b', 'nul\u0000', 'bell\u0007', 'a//b', './a', 'a/.', '', long]) {
      const err = (() => {
        try {
          new Directory({ [file]: Uint8Array.of(1) })
        } catch (e) {
          return e as CkptError
        }
        return undefined
      })()
      expect(err?.code, JSON.stringify(file).slice(0, 40)).toBe('INVALID_OUTPUT')
      expect(err?.message.length).toBeLessThan(400)
    }
  })

  it('never writes outside the checkout folder through a planted symlinked folder', async () => {
    const { store } = await tempStore()
    const c = await store.commit({ stage: 'frames', output: new Directory({ 'sub/f.png': Uint8Array.of(1), 'top.png': Uint8Array.of(2) }) })
    const target = tempDir()
    const outside = tempDir()
    mkdirSync(path.join(target, 'frames'))
    symlinkSync(outside, path.join(target, 'frames', 'sub'))
    const err = await failure(store.restore(c.id, { to: target, force: true }))
    expect(err.code).toBe('WOULD_OVERWRITE')
    expect(readdirSync(outside)).toEqual([])
  })

  it('never writes through a symlink planted where the output folder goes', async () => {
    const { store } = await tempStore()
    const c = await store.commit({ stage: 'frames', output: new Directory({ 'f.png': Uint8Array.of(1) }) })
    const target = tempDir()
    const outside = tempDir()
    symlinkSync(outside, path.join(target, 'frames'))
    writeFileSync(path.join(outside, 'keep.txt'), 'mine')
    await failure(store.restore(c.id, { to: target, force: true }))
    expect(readdirSync(outside)).toEqual(['keep.txt'])
  })
})

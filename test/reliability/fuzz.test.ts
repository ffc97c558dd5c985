import net from 'node:net'
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { Readable } from 'node:stream'
import { ClassicLevel } from 'classic-level'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeLocation } from '../../src/backend/level/packs.js'
import { CkptError, openStore } from '../../src/index.js'
import { cidOf, RAW_CODE, DAG_JSON_CODE } from '../../src/model/cid.js'
import { decodeCheckpoint, encodeCheckpoint } from '../../src/model/checkpoint.js'
import { decode as decodeDagJson, encode as encodeDagJson } from '../../src/model/dag-json.js'
import { decodeManifest, encodeManifest } from '../../src/model/manifest.js'
import { pseudoRandomBytes } from '../support/random.js'
import { runWriter } from '../support/processes.js'
import { collect, onCleanup, tempStore } from '../support/temp.js'
import { SCALE } from './scale.js'

const runs = { numRuns: SCALE.fuzzRuns, endOnFailure: true }

/** Random bytes, and valid encodings with a few bytes flipped, inserted or cut. */
function mutationsOf(valid: Uint8Array): fc.Arbitrary<Uint8Array> {
  const mutated = fc
    .array(fc.tuple(fc.nat(valid.length), fc.integer({ min: 0, max: 255 }), fc.constantFrom('flip', 'insert', 'cut')), { minLength: 1, maxLength: 4 })
    .map((edits) => {
      let bytes = Array.from(valid)
      for (const [at, value, kind] of edits) {
        if (kind === 'flip') bytes[Math.min(at, bytes.length - 1)] = value
        else if (kind === 'insert') bytes.splice(at, 0, value)
        else bytes = bytes.slice(0, at)
      }
      return Uint8Array.from(bytes)
    })
  return fc.oneof(fc.uint8Array({ maxLength: 600 }), mutated)
}

/** Runs `decode`; the only failure allowed is a CkptError with one of `codes`. */
function decodesOrRefuses(decode: () => unknown, codes: readonly string[]): void {
  try {
    decode()
  } catch (err) {
    if (!(err instanceof CkptError) || !codes.includes(err.code)) throw err
  }
}

const checkpoint = encodeCheckpoint({
  parents: [cidOf(DAG_JSON_CODE, new Uint8Array([1]))],
  stages: new Map([['detect', cidOf(DAG_JSON_CODE, new Uint8Array([2]))], ['video', cidOf(RAW_CODE, new Uint8Array([3]))]]),
  trees: [],
  stage: 'detect',
  run: 'r1',
  message: 'fuzz me',
  author: 'fuzzer',
  time: 1_700_000_000_000,
  meta: { host: 'gpu-1' },
})
const blob = cidOf(RAW_CODE, new Uint8Array(10))
const manifest = encodeManifest({ blob, size: 300_000, chunks: [{ cid: cidOf(RAW_CODE, new Uint8Array([4])), size: 100_000 }, { cid: cidOf(RAW_CODE, new Uint8Array([5])), size: 200_000 }] })

describe('fuzzing the decoders with random and mutated bytes', () => {
  it('checkpoint nodes: decode, or CORRUPT_OBJECT (NOT_FOUND when it is another kind of node), nothing else', () => {
    fc.assert(fc.property(mutationsOf(checkpoint.bytes), (bytes) => decodesOrRefuses(() => decodeCheckpoint(checkpoint.cid, bytes), ['CORRUPT_OBJECT', 'UNSUPPORTED_FORMAT', 'NOT_FOUND'])), runs)
  }, SCALE.timeoutMs)

  it('chunk manifests: decode or CORRUPT_OBJECT, and a decoded one never claims a chunk larger than the chunker cuts', () => {
    fc.assert(
      fc.property(mutationsOf(manifest), (bytes) => {
        let decoded
        try {
          decoded = decodeManifest(blob, bytes)
        } catch (err) {
          if (!(err instanceof CkptError) || err.code !== 'CORRUPT_OBJECT') throw err
          return
        }
        expect(decoded.chunks.every((c) => c.size <= 1024 * 1024)).toBe(true)
      }),
      runs,
    )
  }, SCALE.timeoutMs)

  it('dag-json: decode or a plain Error, and what decodes re-encodes to the same bytes', () => {
    const valid = encodeDagJson({ a: [1, 'two', { '/': { bytes: 'AQI' } }], b: { c: null, d: 1.5 } })
    fc.assert(
      fc.property(mutationsOf(valid), (bytes) => {
        let value
        try {
          value = decodeDagJson(bytes)
        } catch (err) {
          expect(err).toBeInstanceOf(Error)
          return
        }
        expect(Buffer.compare(Buffer.from(encodeDagJson(value)), Buffer.from(bytes))).toBe(0)
      }),
      runs,
    )
  }, SCALE.timeoutMs)

  it('pack index entries: decode or CORRUPT_OBJECT', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => decodesOrRefuses(() => decodeLocation(bytes), ['CORRUPT_OBJECT'])), runs)
  }, SCALE.timeoutMs)

  it('pack files: a damaged pack reads back right, or fails with CORRUPT_OBJECT or NOT_FOUND, and fsck says so', async () => {
    const { store: creator, dir } = await tempStore()
    const bytes = pseudoRandomBytes(3 * 1024 * 1024, 41)
    const id = await creator.putBlob(bytes)
    await creator.commit({ stage: 'video', output: bytes })
    await creator.close()
    const packDir = path.join(dir, 'packs')
    const packFile = path.join(packDir, readdirSync(packDir)[0]!)
    const original = readFileSync(packFile)
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(original.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), fc.boolean(), async (flips, truncate) => {
        const damaged = Buffer.from(original)
        for (const [at, value] of flips) damaged[at] = value
        writeFileSync(packFile, truncate ? damaged.subarray(0, flips[0]![0]) : damaged)
        const store = await openStore(dir)
        try {
          const read = await store.getBlob(id).then(
            (back) => (Buffer.compare(Buffer.from(back), Buffer.from(bytes)) === 0 ? 'right' : 'wrong'),
            (err: unknown) => {
              if (!(err instanceof CkptError) || !['CORRUPT_OBJECT', 'NOT_FOUND'].includes(err.code)) throw err
              return 'refused'
            },
          )
          const report = await store.fsck()
          // A wrong read is impossible. A refused one is reported by fsck too; fsck may also see
          // damage a read does not touch (a record's header).
          expect(read).not.toBe('wrong')
          if (read === 'refused') expect(report.ok).toBe(false)
          if (report.ok) expect(read).toBe('right')
        } finally {
          await store.close()
        }
      }),
      { numRuns: Math.max(20, Math.round(SCALE.fuzzRuns / 30)), endOnFailure: true },
    )
  }, SCALE.timeoutMs)

  it('reflog entries: a damaged entry is CORRUPT_OBJECT for the reader, and gc deletes nothing', async () => {
    const { store: creator, dir } = await tempStore()
    await creator.commit({ stage: 'a', output: 1 })
    await creator.commit({ stage: 'a', output: 2 })
    await creator.close()
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 80 }), async (garbage) => {
        const db = new ClassicLevel<Uint8Array, Uint8Array>(path.join(dir, 'db'), { keyEncoding: 'view', valueEncoding: 'view' })
        await db.open()
        const logKeys: Uint8Array[] = []
        for await (const key of db.keys({ gte: Uint8Array.of(0x6c), lt: Uint8Array.of(0x6d) })) logKeys.push(key)
        const target = logKeys[logKeys.length - 1]!
        const before = await db.get(target)
        await db.put(target, garbage)
        await db.close()
        const store = await openStore(dir)
        try {
          let parsed = true
          try {
            JSON.parse(new TextDecoder().decode(garbage))
          } catch {
            parsed = false
          }
          const reflog = await store.reflog('main').then(
            () => 'read',
            (err: unknown) => {
              if (!(err instanceof CkptError) || err.code !== 'CORRUPT_OBJECT') throw err
              return 'refused'
            },
          )
          if (!parsed) expect(reflog).toBe('refused')
          const gc = await store.gc({ prune: 'now' }).then(
            (r) => r.freed.objects,
            (err: unknown) => {
              if (!(err instanceof CkptError) || err.code !== 'CORRUPT_OBJECT') throw err
              return 0
            },
          )
          expect(gc).toBe(0)
          expect((await store.getOutput('main:a')) as number).toBe(2)
        } finally {
          await store.close()
        }
        const restore = new ClassicLevel<Uint8Array, Uint8Array>(path.join(dir, 'db'), { keyEncoding: 'view', valueEncoding: 'view' })
        await restore.open()
        await restore.put(target, before!)
        await restore.close()
      }),
      { numRuns: Math.max(10, Math.round(SCALE.fuzzRuns / 60)), endOnFailure: true },
    )
  }, SCALE.timeoutMs)

  it('CAR files: a mutated or random file imports whole or is refused with a typed error, moving no ref', async () => {
    const { store: source } = await tempStore()
    await source.commit({ stage: 'a', output: { n: 1 } })
    await source.commit({ stage: 'b', output: pseudoRandomBytes(1_300_000, 5) })
    const car = Buffer.concat(await collect(source.exportCar('main')))
    const { store: target } = await tempStore()
    await fc.assert(
      fc.asyncProperty(mutationsOf(new Uint8Array(car.subarray(0, 600))), fc.boolean(), async (head, keepTail) => {
        const bytes = keepTail ? Buffer.concat([head, car.subarray(600)]) : Buffer.from(head)
        const before = await target.timelines.list()
        const imported = await target.importCar(Readable.from([bytes])).then(
          () => true,
          (err: unknown) => {
            if (!(err instanceof CkptError) || !['CORRUPT_OBJECT', 'NOT_FOUND', 'INVALID_REF_NAME'].includes(err.code)) throw err
            return false
          },
        )
        if (!imported) expect(await target.timelines.list()).toEqual(before)
        else await target.timelines.delete('main').catch(() => undefined)
      }),
      { numRuns: Math.max(50, Math.round(SCALE.fuzzRuns / 10)), endOnFailure: true },
    )
    expect((await target.fsck()).problems).toEqual([])
  }, SCALE.timeoutMs)

  it('the leader survives hostile frames on its socket and goes on serving', async () => {
    const { store, dir } = await tempStore()
    await store.commit({ stage: 'a', output: 'still here' })
    await store.close()
    // The leader is another process, as a long pipeline would be.
    const leader = runWriter([dir, 'hold'])
    await leader.waitForLine((l) => l === 'ready')
    const socketPath = path.join(dir, 'leader.sock')
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.boolean(), async (body, hugeLength) => {
        await new Promise<void>((resolve) => {
          const socket = net.connect(socketPath, () => {
            const header = Buffer.alloc(4)
            header.writeUInt32BE(hugeLength ? 0xfffffff0 : body.length)
            socket.end(Buffer.concat([header, body]))
          })
          socket.on('error', () => resolve())
          socket.on('close', () => resolve())
          socket.resume()
        })
      }),
      { numRuns: Math.max(50, Math.round(SCALE.fuzzRuns / 6)), endOnFailure: true },
    )
    // The leader is alive, and a well-behaved process still gets answers from it.
    expect(leader.process.exitCode).toBeNull()
    const follower = await openStore(dir)
    onCleanup(() => follower.close())
    expect(await follower.getOutput('main:a')).toBe('still here')
    expect(leader.process.exitCode).toBeNull()
  }, SCALE.timeoutMs)
})

import { spawn } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { CID } from 'multiformats/cid'
import { Directory, cloneStore, openLevelBackend, openStore, type Store } from '../../src/index.js'
import { CKPT, ckpt } from '../support/cli.js'
import { git, gitFsck } from '../support/git.js'
import { prng, pseudoRandomBytes } from '../support/random.js'
import { collect, onCleanup, tempDir, tempStore } from '../support/temp.js'
import { TIMELINES, outputFor } from './fixtures/content.js'
import { SCALE } from './scale.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const fixture = (name: string) => path.resolve(here, '../../dist/test/reliability/fixtures', name)

interface Ack {
  readonly timeline: string
  readonly seq: number
  readonly id: string
}

function readAcks(file: string): Ack[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [timeline, seq, id] = line.split(' ') as [string, string, string]
      return { timeline, seq: Number(seq), id }
    })
}

/** Starts `node script ...args`, resolves once it prints `ready`; the test kills it. */
async function startReady(script: string, args: string[]) {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  onCleanup(() => void child.kill('SIGKILL'))
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t))
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()))
  await new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (t: string) => t.includes('ready') && resolve())
    void exited.then(() => reject(new Error(`${path.basename(script)} exited before it was ready: ${stderr}`)))
  })
  return { child, exited, stderr: () => stderr }
}

/** The checkpoints whose history segments the store at `dir` holds (docs/format.md: key 0x03 + the checkpoint's CID). */
async function segmentTops(dir: string): Promise<string[]> {
  const backend = await openLevelBackend(path.join(dir, 'db'), { packDir: path.join(dir, 'packs') })
  try {
    const keys = await collect(backend.objects.keys({ gte: Uint8Array.of(0x03), lt: Uint8Array.of(0x04) }))
    return keys.map((key) => CID.decode(key.subarray(1)).toString())
  } finally {
    await backend.close()
  }
}

/** Every acknowledged checkpoint is in its timeline's history with exactly the bytes committed. */
async function checkAcknowledged(store: Store, acks: readonly Ack[]): Promise<void> {
  const histories = new Map<string, Set<string>>()
  for (const timeline of TIMELINES) {
    const exists = (await store.timelines.list()).some((t) => t.name === timeline)
    histories.set(timeline, new Set(exists ? (await collect(store.log(timeline))).map((c) => c.id) : []))
  }
  for (const ack of acks) {
    expect(histories.get(ack.timeline)?.has(ack.id), `${ack.timeline} ${ack.seq}`).toBe(true)
    const { stage, output } = outputFor(ack.timeline, ack.seq)
    const checkpoint = await store.getCheckpoint(ack.id)
    expect(checkpoint.message).toBe(`${ack.timeline} ${ack.seq}`)
    const stored = await store.getOutput(`${ack.id}:${stage}`)
    if (output instanceof Uint8Array) expect(Buffer.compare(Buffer.from(stored as Uint8Array), Buffer.from(output))).toBe(0)
    else expect(stored).toEqual(output)
  }
}

/** Each timeline's head is its last acknowledged checkpoint, or the one in flight on top of it. */
async function checkHeads(store: Store, acks: readonly Ack[]): Promise<void> {
  for (const timeline of TIMELINES) {
    const mine = acks.filter((a) => a.timeline === timeline)
    const last = mine.at(-1)
    const head = (await store.timelines.list()).find((t) => t.name === timeline)?.head
    if (!last) continue
    if (head === last.id) continue
    // The commit in flight when the kill landed: written, not yet acknowledged.
    const inFlight = await store.getCheckpoint(head as string)
    expect(inFlight.parents, `${timeline}: head ${head} is neither acknowledged nor in flight`).toEqual([last.id])
    expect(inFlight.message).toBe(`${timeline} ${last.seq + 1}`)
  }
}

describe('crash safety: a writer killed with SIGKILL again and again', () => {
  it(`loses no acknowledged checkpoint over ${SCALE.kills} kills, and leaves a store that opens and passes fsck`, async () => {
    const { store: creator, dir } = await tempStore()
    await creator.close()
    const acks = path.join(tempDir(), 'acks')
    const random = prng(20261122)
    let checked = 0
    for (let round = 0; round < SCALE.kills; round++) {
      const writer = await startReady(fixture('crash-writer.js'), [dir, acks])
      await sleep(20 + Math.floor(random() * 400))
      writer.child.kill('SIGKILL')
      await writer.exited
      const store = await openStore(dir)
      try {
        expect((await store.fsck({ quick: true })).problems).toEqual([])
        const all = readAcks(acks)
        // New acknowledgements are read back in full; older ones were checked in earlier rounds.
        await checkAcknowledged(store, all.slice(checked))
        await checkHeads(store, all)
        checked = all.length
      } finally {
        await store.close()
      }
    }
    const store = await openStore(dir)
    onCleanup(() => store.close())
    const all = readAcks(acks)
    expect(all.length).toBeGreaterThan(SCALE.kills)
    await checkAcknowledged(store, all)
    expect((await store.fsck()).problems).toEqual([])
  }, SCALE.timeoutMs)

  it('a writer killed again and again leaves every checkpoint that tops a history segment with its segment', async () => {
    const { store: creator, dir } = await tempStore()
    await creator.close()
    const acks = path.join(tempDir(), 'acks')
    const random = prng(256)
    const acked = () => (existsSync(acks) ? readFileSync(acks, 'utf8').split('\n').filter(Boolean) : [])
    for (let round = 1; round <= 4; round++) {
      const writer = await startReady(fixture('history-writer.js'), [dir, acks])
      // Past the next segment boundary or two, then a kill at a random moment.
      while (acked().length < round * 300) await sleep(10)
      await sleep(Math.floor(random() * 60))
      writer.child.kill('SIGKILL')
      await writer.exited
      const store = await openStore(dir)
      try {
        expect((await store.fsck({ quick: true })).problems).toEqual([])
        const history = await collect(store.history('main'))
        expect(history.map((c) => [c.id, c.seq])).toEqual((await collect(store.log('main'))).map((c) => [c.id, c.seq]))
        for (const line of acked()) expect(history.some((c) => line === `${c.seq} ${c.id}`), line).toBe(true)
        const tops = history.filter((c) => c.seq % 256 === 0).map((c) => c.id)
        expect(tops.length).toBeGreaterThanOrEqual(Math.floor((round * 300) / 256))
        expect((await segmentTops(dir)).sort()).toEqual(tops.sort())
      } finally {
        await store.close()
      }
    }
  }, SCALE.timeoutMs)

  it('leaves a store that opens and passes fsck when an import is killed, with main absent or whole', async () => {
    const { store: source } = await tempStore()
    for (let i = 0; i < 12; i++) await source.commit({ stage: `s${i % 3}`, output: i % 4 === 0 ? pseudoRandomBytes(2 * 1024 * 1024, i) : { i } })
    const head = await source.timelines.get('main')
    const car = path.join(tempDir(), 'main.car')
    writeFileSync(car, Buffer.concat(await collect(source.exportCar('main'))))
    const { store: creator, dir } = await tempStore()
    await creator.commit({ timeline: 'mine', stage: 'own', output: 'kept' })
    await creator.close()
    const random = prng(11)
    for (let round = 0; round < 6; round++) {
      const importer = await startReady(fixture('import-loop.js'), [dir, car])
      await sleep(20 + Math.floor(random() * 300))
      importer.child.kill('SIGKILL')
      await importer.exited
      const store = await openStore(dir)
      try {
        expect((await store.fsck()).problems).toEqual([])
        const main = (await store.timelines.list()).find((t) => t.name === 'main')
        if (main) expect(main.head).toBe(head)
        expect(await store.getOutput('mine:own')).toBe('kept')
      } finally {
        await store.close()
      }
    }
  }, SCALE.timeoutMs)

  it('leaves both stores consistent when a push is killed, and the next push completes it', async () => {
    const { store: origin, dir: remoteDir } = await tempStore()
    await origin.commit({ stage: 'seed', output: 0 })
    await origin.close()
    const localDir = path.join(tempDir(), '.ckpt')
    await (await cloneStore(remoteDir, localDir)).close()
    const random = prng(5)
    for (let round = 0; round < 6; round++) {
      const local = await openStore(localDir)
      for (let i = 0; i < 3; i++) await local.commit({ stage: `v${i}`, output: i === 0 ? pseudoRandomBytes(3 * 1024 * 1024, round * 10 + i) : { round, i } })
      const history = (await collect(local.log('main'))).map((c) => c.id)
      await local.close()
      const push = spawn(process.execPath, [CKPT, '--store', localDir, 'push', 'origin', 'main'], { stdio: 'ignore' })
      const closed = new Promise((resolve) => push.on('close', resolve))
      onCleanup(() => void push.kill('SIGKILL'))
      await sleep(100 + Math.floor(random() * 400))
      push.kill('SIGKILL')
      await closed
      const remote = await openStore(remoteDir)
      try {
        expect((await remote.fsck()).problems).toEqual([])
        // The remote's main is where it was or where the push took it, with its whole history.
        const head = await remote.timelines.get('main')
        expect(history).toContain(head)
        expect((await collect(remote.log(head))).length).toBe(history.length - history.indexOf(head))
      } finally {
        await remote.close()
      }
      expect(ckpt(tempDir(), ['--store', localDir, 'push', 'origin', 'main']).code).toBe(0)
    }
    const [remote, local] = [await openStore(remoteDir), await openStore(localDir)]
    onCleanup(() => remote.close())
    onCleanup(() => local.close())
    expect(await remote.timelines.get('main')).toBe(await local.timelines.get('main'))
    expect((await remote.fsck()).problems).toEqual([])
  }, SCALE.timeoutMs)

  it('a killed `export --git` leaves a mirror git accepts, and the next run completes it with the same commit ids', async () => {
    const { store, dir } = await tempStore()
    for (let i = 0; i < 300; i++) await store.commit({ stage: `s${i % 5}`, output: { i, pad: 'x'.repeat(500) }, time: Date.UTC(2026, 0, 1) + i * 1000 })
    await store.close()
    const mirror = path.join(tempDir(), 'mirror')
    const random = prng(11)
    const rounds = Math.max(3, Math.floor(SCALE.kills / 4))
    let interrupted = 0
    for (let round = 0; round < rounds; round++) {
      const child = spawn(process.execPath, [CKPT, '--store', dir, 'export', '--git', mirror], { stdio: 'ignore' })
      onCleanup(() => void child.kill('SIGKILL'))
      const exited = new Promise<void>((resolve) => child.on('close', () => resolve()))
      await sleep(250 + Math.floor(random() * 1500))
      child.kill('SIGKILL')
      await exited
      if (existsSync(mirror)) expect(gitFsck(mirror, { ignoreNotices: true })).toEqual({ code: 0, output: '' })
      // Branches are written last: without one, the kill landed mid-export.
      if (!existsSync(path.join(mirror, 'refs', 'heads', 'main'))) interrupted++
    }
    expect(interrupted).toBeGreaterThan(0)
    expect(ckpt(tempDir(), ['--store', dir, 'export', '--git', mirror]).code).toBe(0)
    expect(gitFsck(mirror, { ignoreNotices: true })).toEqual({ code: 0, output: '' })
    const fresh = path.join(tempDir(), 'fresh')
    expect(ckpt(tempDir(), ['--store', dir, 'export', '--git', fresh]).code).toBe(0)
    expect(git(mirror, ['rev-parse', 'main'])).toBe(git(fresh, ['rev-parse', 'main']))
    expect(git(mirror, ['rev-list', '--count', 'main']).trim()).toBe('300')
  }, SCALE.timeoutMs)

  it('never leaves a half-written file under its final name when checkout --to is killed', async () => {
    const { store: creator, dir } = await tempStore()
    const big = pseudoRandomBytes(48 * 1024 * 1024, 77)
    const small = { ok: true }
    await creator.commit({ outputs: { video: big, meta: small }, stage: 'video' })
    await creator.close()
    const random = prng(7)
    for (let round = 0; round < 6; round++) {
      const target = path.join(tempDir(), 'out')
      const checkout = await startReady(fixture('checkout-loop.js'), [dir, target])
      await sleep(30 + Math.floor(random() * 250))
      checkout.child.kill('SIGKILL')
      await checkout.exited
      for (const name of existsSync(target) ? readdirSync(target) : []) {
        const file = path.join(target, name)
        if (name === 'video') {
          expect(statSync(file).size).toBe(big.length)
          expect(Buffer.compare(readFileSync(file), Buffer.from(big))).toBe(0)
        } else if (name === 'meta.json') {
          expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(small)
        } else if (name === '.ckpt-checkout.json') {
          expect(() => JSON.parse(readFileSync(file, 'utf8'))).not.toThrow()
        } else {
          // Anything else is a temporary file, never one of the final names.
          expect(name).toMatch(/\.ckpt-tmp-[0-9a-f]+$/)
        }
      }
    }
  }, SCALE.timeoutMs)

  it('never leaves a partial folder output when checkout --to a new folder is killed: the folder is whole or absent', async () => {
    const { store: creator, dir } = await tempStore()
    const count = 3_000
    const files = new Map<string, Uint8Array>()
    for (let i = 0; i < count; i++) files.set(`d${i % 30}/f${i}.txt`, new TextEncoder().encode(`file ${i}\n`))
    await creator.commit({ stage: 'frames', output: new Directory(files) })
    await creator.close()
    const random = prng(11)
    for (let round = 0; round < 6; round++) {
      const parent = tempDir()
      const target = path.join(parent, 'out')
      const checkout = await startReady(fixture('checkout-loop.js'), [dir, target])
      // Killed once the target folder is there, while the files are being written.
      while (!existsSync(target)) await sleep(2)
      await sleep(Math.floor(random() * 200))
      checkout.child.kill('SIGKILL')
      await checkout.exited
      // Nothing is written beside the folder named.
      expect(readdirSync(parent).filter((name) => name !== 'out')).toEqual([])
      for (const name of existsSync(target) ? readdirSync(target) : []) {
        if (name === 'frames') {
          const found = readdirSync(path.join(target, name), { recursive: true, withFileTypes: true }).filter((e) => e.isFile())
          expect(found.length).toBe(count)
          expect(readFileSync(path.join(target, 'frames', 'd7', 'f1237.txt'), 'utf8')).toBe('file 1237\n')
        } else if (name === '.ckpt-checkout.json') {
          expect(() => JSON.parse(readFileSync(path.join(target, name), 'utf8'))).not.toThrow()
        } else {
          expect(name).toMatch(/^\.ckpt-tmp-[0-9a-f]+$/)
        }
      }
    }
  }, SCALE.timeoutMs)
})

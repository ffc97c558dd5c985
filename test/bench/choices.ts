/**
 * `node dist/test/bench/choices.js`: the measurements behind two storage choices in
 * docs/performance.md, kept runnable so they can be repeated: the chunk size, and where bulk
 * bytes live (LevelDB values versus an append-only file). Not part of `npm run bench`.
 */
import { randomBytes, randomFillSync } from 'node:crypto'
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ClassicLevel } from 'classic-level'
import { cutPoints, type ChunkingParams } from '../../src/model/chunker.js'
import { blake3 } from '../../src/model/hash.js'

const MiB = 1024 * 1024
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })

function chunkSet(bytes: Uint8Array, params: ChunkingParams): Map<string, number> {
  const out = new Map<string, number>()
  let start = 0
  for (const end of cutPoints(bytes, params)) {
    out.set(Buffer.from(blake3(bytes.subarray(start, end))).toString('hex'), end - start)
    start = end
  }
  return out
}

/** Bytes of chunks in `edited` that `original` does not have: what storing the edit costs. */
function newBytes(original: Map<string, number>, edited: Map<string, number>): number {
  let total = 0
  for (const [id, size] of edited) if (!original.has(id)) total += size
  return total
}

function chunkSizes(): void {
  const size = 256 * MiB
  const base = randomFillSync(new Uint8Array(size))
  const overwritten = Uint8Array.from(base)
  overwritten.set(randomFillSync(new Uint8Array(MiB)), size / 2)
  const third = Math.floor(size / 3)
  const inserted = new Uint8Array(Buffer.concat([base.subarray(0, third), randomFillSync(new Uint8Array(MiB)), base.subarray(third)]))
  console.log('| average chunk | min / max | chunking MB/s | chunks per GiB | manifest per GiB (est.) | 1 MiB overwritten: new bytes | 1 MiB inserted: new bytes |')
  console.log('|---|---|---|---|---|---|---|')
  for (const avg of [64 * 1024, 256 * 1024, 1024 * 1024]) {
    const params = { min: avg / 4, avg, max: avg * 4 }
    const start = process.hrtime.bigint()
    const cuts = cutPoints(base, params)
    const seconds = Number(process.hrtime.bigint() - start) / 1e9
    const original = chunkSet(base, params)
    const perGiB = (cuts.length * 1024 * MiB) / size
    console.log(
      `| ${avg / 1024} KiB | ${avg / 4096} KiB / ${(avg * 4) / 1024} KiB | ${fmt(size / seconds / 1e6)} | ${fmt(perGiB)} | ${fmt((perGiB * 75) / 1024)} KiB | ${fmt(newBytes(original, chunkSet(overwritten, params)) / MiB, 2)} MiB | ${fmt(newBytes(original, chunkSet(inserted, params)) / MiB, 2)} MiB |`,
    )
  }
}

async function bulkBytes(): Promise<void> {
  const total = 1024 * MiB
  const valueSize = 256 * 1024
  const value = randomFillSync(new Uint8Array(valueSize))
  const work = mkdtempSync(path.join(os.tmpdir(), 'ckpt-choices-'))
  const db = new ClassicLevel<Uint8Array, Uint8Array>(path.join(work, 'level'), { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  let start = process.hrtime.bigint()
  for (let written = 0; written < total; written += 64 * valueSize) {
    await db.batch(Array.from({ length: 64 }, () => ({ type: 'put' as const, key: randomBytes(36), value })), { sync: false })
  }
  await db.close() // closing flushes the memtable: part of getting the bytes to disk
  const levelSeconds = Number(process.hrtime.bigint() - start) / 1e9

  start = process.hrtime.bigint()
  const fd = openSync(path.join(work, 'append.bin'), 'w')
  for (let written = 0; written < total; written += valueSize) writeSync(fd, value)
  fsyncSync(fd)
  closeSync(fd)
  const appendSeconds = Number(process.hrtime.bigint() - start) / 1e9
  rmSync(work, { recursive: true, force: true })
  console.log(`\n1 GiB of 256 KiB values: LevelDB (random keys, batches of 64, no sync) ${fmt(total / levelSeconds / 1e6)} MB/s; one append-only file + fsync ${fmt(total / appendSeconds / 1e6)} MB/s`)
}

chunkSizes()
await bulkBytes()

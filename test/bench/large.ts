/**
 * The large-output workloads of `npm run bench`: a 1 GiB output committed new, again, edited in
 * place and with an insertion; checked out; and the same file through `git add && git commit`.
 * Each beside its baseline from the same run. ckpt runs with fsync durability here, because the
 * append baseline fsyncs.
 */
import { execFileSync } from 'node:child_process'
import { closeSync, copyFileSync, openSync, readSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs'
import { randomFillSync } from 'node:crypto'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createBLAKE3 } from 'hash-wasm'
import { openStore } from '../../src/index.js'
import { appendWithFsync, cpFile, gitCliCommitFile, peakRssOfChild, settleDisk } from './baselines.js'

export interface LargeFigures {
  readonly bytes: number
  readonly commitNew: { seconds: number; peakRssBytes: number; appendSeconds: number }
  readonly commitAgain: { seconds: number; growthBytes: number; hashSeconds: number }
  readonly overwrite: { growthBytes: number }
  readonly insert: { growthBytes: number }
  readonly checkout: { seconds: number; cpSeconds: number }
  readonly git: { seconds: number } | undefined
}

const MiB = 1024 * 1024
const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'commit-child.js')
const READER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'read-child.js')
const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../cli/main.js')

type Run = { seconds: number; peakRssBytes: number }

/**
 * Put and get of one very large output through streams, then its closure exported to a CAR file
 * and imported into an empty store with the real `ckpt` command: each in its own process, for
 * peak RSS.
 */
export async function hugeStreamBench(work: string, bytes: number): Promise<{ put: Run; get: Run; exportCar: Run; importCar: Run }> {
  const file = path.join(work, 'huge.bin')
  writeRandomFile(file, bytes)
  const store = path.join(work, 'huge-store')
  const put = await peakRssOfChild(CHILD, [store, file, 'huge'])
  const { id, seconds } = JSON.parse(put.stdout) as { id: string; seconds: number }
  rmSync(file)
  const get = await peakRssOfChild(READER, [store, id])
  const read = JSON.parse(get.stdout) as { seconds: number; bytes: number }
  if (read.bytes !== bytes) throw new Error(`read back ${read.bytes} bytes of ${bytes}`)
  const car = path.join(work, 'huge.car')
  const exported = await peakRssOfChild(CLI, ['--store', store, 'export', 'main', '-o', car])
  if (statSync(car).size < bytes) throw new Error(`the CAR holds ${statSync(car).size} bytes, less than the ${bytes} exported`)
  rmSync(store, { recursive: true, force: true })
  const copy = path.join(work, 'huge-copy')
  execFileSync(process.execPath, [CLI, '--store', copy, 'init'])
  const imported = await peakRssOfChild(CLI, ['--store', copy, 'import', car])
  rmSync(car)
  rmSync(copy, { recursive: true, force: true })
  return {
    put: { seconds, peakRssBytes: put.peakRssBytes },
    get: { seconds: read.seconds, peakRssBytes: get.peakRssBytes },
    exportCar: { seconds: exported.seconds, peakRssBytes: exported.peakRssBytes },
    importCar: { seconds: imported.seconds, peakRssBytes: imported.peakRssBytes },
  }
}

export async function largeBench(work: string, bytes: number, withGit: boolean): Promise<LargeFigures> {
  const file = path.join(work, 'big.bin')
  writeRandomFile(file, bytes)
  const append = await appendWithFsync(path.join(work, 'appended.bin'), () => readPieces(file))

  const store = path.join(work, 'large-store')
  const commit = async (source: string, stage: string) => {
    const run = await peakRssOfChild(CHILD, [store, source, stage])
    return { ...(JSON.parse(run.stdout) as { seconds: number; id: string }), peakRssBytes: run.peakRssBytes }
  }
  const fresh = await commit(file, 'weights')

  const before = treeBytes(store)
  const again = await commit(file, 'weights_again')
  const growthAgain = treeBytes(store) - before
  const hashSeconds = await streamHashSeconds(file)

  const overwritten = path.join(work, 'overwritten.bin')
  copyFileSync(file, overwritten)
  overwriteInPlace(overwritten, Math.floor(bytes / 2), randomFillSync(Buffer.alloc(MiB)))
  const beforeOverwrite = treeBytes(store)
  await commit(overwritten, 'weights_edited')
  const growthOverwrite = treeBytes(store) - beforeOverwrite

  const inserted = path.join(work, 'inserted.bin')
  writeWithInsertion(file, inserted, Math.floor(bytes / 3), randomFillSync(Buffer.alloc(MiB)))
  const beforeInsert = treeBytes(store)
  await commit(inserted, 'weights_inserted')
  const growthInsert = treeBytes(store) - beforeInsert

  // Both the checkout and cp write a GiB and wait for the disk: each starts with none of the
  // copies and commits above still being written back.
  settleDisk()
  const opened = await openStore(store, { level: { durability: 'fsync' } })
  const start = process.hrtime.bigint()
  const target = path.join(work, 'checkout')
  const result = await opened.restore('HEAD~3', { to: target })
  const checkoutSeconds = Number(process.hrtime.bigint() - start) / 1e9
  await opened.close()
  if (!result.written.includes('weights') || statSync(path.join(target, 'weights')).size !== bytes) throw new Error('checkout wrote the wrong file')
  settleDisk()
  const cp = cpFile(file, path.join(work, 'copied.bin'))

  const git = withGit ? gitCliCommitFile(path.join(work, 'git-repo'), file) : undefined
  return {
    bytes,
    commitNew: { seconds: fresh.seconds, peakRssBytes: fresh.peakRssBytes, appendSeconds: append.seconds },
    commitAgain: { seconds: again.seconds, growthBytes: growthAgain, hashSeconds },
    overwrite: { growthBytes: growthOverwrite },
    insert: { growthBytes: growthInsert },
    checkout: { seconds: checkoutSeconds, cpSeconds: cp.secondsWithFsync },
    git,
  }
}

export function writeRandomFile(file: string, bytes: number): void {
  const fd = openSync(file, 'w')
  const block = Buffer.alloc(64 * MiB)
  for (let left = bytes; left > 0; left -= block.length) writeSync(fd, randomFillSync(block), 0, Math.min(left, block.length))
  closeSync(fd)
}

function* readPieces(file: string): Iterable<Uint8Array> {
  const fd = openSync(file, 'r')
  try {
    for (;;) {
      const piece = Buffer.allocUnsafe(MiB)
      const n = readSync(fd, piece, 0, MiB, null)
      if (n === 0) return
      yield piece.subarray(0, n)
    }
  } finally {
    closeSync(fd)
  }
}

/** Writes `bytes` over `file`'s own from offset `at`, in place (same inode). */
export function overwriteInPlace(file: string, at: number, bytes: Uint8Array): void {
  const fd = openSync(file, 'r+')
  writeSync(fd, bytes, 0, bytes.length, at)
  closeSync(fd)
}

/** Writes `source` to `target` with `insert` placed at offset `at`. */
export function writeWithInsertion(source: string, target: string, at: number, insert: Uint8Array): void {
  const fd = openSync(target, 'w')
  let offset = 0
  for (const piece of readPieces(source)) {
    if (offset <= at && at < offset + piece.length) {
      writeSync(fd, piece.subarray(0, at - offset))
      writeSync(fd, insert)
      writeSync(fd, piece.subarray(at - offset))
    } else {
      writeSync(fd, piece)
    }
    offset += piece.length
  }
  closeSync(fd)
}

/** Reading the file and hashing it as a stream with the fastest streaming BLAKE3 we have: the least any content-addressed store must do. */
async function streamHashSeconds(file: string): Promise<number> {
  const hasher = await createBLAKE3(256)
  const start = process.hrtime.bigint()
  hasher.init()
  for (const piece of readPieces(file)) hasher.update(piece)
  hasher.digest('binary')
  return Number(process.hrtime.bigint() - start) / 1e9
}

/** Total size of the files under `dir`. */
export function treeBytes(dir: string): number {
  let total = 0
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += statSync(path.join(entry.parentPath, entry.name)).size
  }
  return total
}

import { randomBytes } from 'node:crypto'
import { closeSync, fstatSync, openSync, renameSync, rmSync, writeSync, type BigIntStats } from 'node:fs'
import { lstat, mkdir, open, rename, rm, stat, unlink } from 'node:fs/promises'
import path from 'node:path'
import { CkptError, quoted } from '../errors.js'
import { RAW_CODE, cidString, type CID } from '../model/cid.js'
import { blobLinks, linksToJson } from '../model/value.js'
import { writeAllAt } from '../io/write-all.js'
import { fileSystemError, onPath } from '../io/fs-errors.js'
import { mkdirDurable, syncDirectory } from '../io/sync-dir.js'
import { checkStageName } from '../refs/names.js'
import type { CheckpointNode } from '../model/checkpoint.js'
import { checkTreePath, treeEntries } from '../model/tree.js'
import type { ObjectDb } from '../core/objects.js'
import { CHECKOUT_MANIFEST, ManifestWriter, isRecordedFile, readManifest, recordOf, type RecordedFile } from './manifest.js'
import { OutputNames, checkNameLength, type RenamedOutput } from './names.js'

export { CHECKOUT_MANIFEST } from './manifest.js'

export interface CheckoutDirOptions {
  readonly force: boolean
  /** fsync each file and folder (the store's `fsync` durability): survives power loss, not only a killed process. */
  readonly durable: boolean
  readonly onProgress?: ((written: number, total: number) => void) | undefined
}

export interface CheckoutDirResult {
  readonly written: string[]
  readonly renamed: RenamedOutput[]
}

interface PlannedFile {
  readonly name: string
  readonly content: () => Iterable<Uint8Array> | AsyncIterable<Uint8Array>
}

/** Files written at once: enough to keep the disk and the thread pool busy with small files. */
const CONCURRENT_FILES = 16

/**
 * Writes each stage output of a checkpoint into `dir`: JSON as `<stage>.json` (bytes inside it
 * appear as `{ "/": id }` links and are written to `<stage>.blobs/<id>`), bytes as `<stage>`,
 * directories as the folder `<stage>/`. Names that collide get `~2`, `~3`, … and are reported.
 *
 * Everything is checked before the first write (names the file system cannot hold, files ckpt
 * did not write, folders in the way). Each file is written to a temporary name and renamed, so
 * no file is ever half-written under its final name. Files are streamed from the tree, and the
 * manifest to disk, so memory stays bounded by the number of names, not their contents.
 */
export async function writeCheckoutDir(objects: ObjectDb, checkpoint: CID, node: CheckpointNode, dir: string, options: CheckoutDirOptions): Promise<CheckoutDirResult> {
  const root = path.resolve(dir)
  const existing = await stat(root).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined
    throw fileSystemError(err, dir, 'cannot check out into')
  })
  if (existing && !existing.isDirectory()) {
    throw new CkptError('WOULD_OVERWRITE', `cannot check out into ${quoted(dir)}: it is a file, not a folder`, { details: { path: dir } })
  }
  const previous = existing ? await readManifest(root) : new Map<string, RecordedFile>()
  const disk = new TargetFolder(root, previous, existing === undefined)
  let total = 0
  for await (const file of plannedFiles(objects, node, new OutputNames([CHECKOUT_MANIFEST]))) {
    checkNameLength(root, file.name)
    await disk.checkWritable(file.name, options.force)
    total++
  }
  await disk.checkWritable(CHECKOUT_MANIFEST, true)

  if (!existing) await onPath(dir, () => mkdirDurable(root), 'cannot create the checkout folder')
  const names = new OutputNames([CHECKOUT_MANIFEST])
  const manifest = await onPath(dir, () => ManifestWriter.create(root, cidString(checkpoint)), 'cannot write into')
  const written: string[] = []
  try {
    await forEachConcurrently(plannedFiles(objects, node, names), CONCURRENT_FILES, async (file) => {
      const target = path.join(root, file.name)
      await disk.makeFolder(path.dirname(file.name))
      manifest.add(file.name, recordOf(await writeAtomically(target, file.content(), options.durable)))
      written.push(file.name)
      options.onProgress?.(written.length, total)
    })
  } catch (err) {
    // What was written is recorded, and so is every earlier file still in place, so the next checkout knows them as its own.
    const writtenNow = new Set(written)
    for (const [name, recorded] of previous) if (!writtenNow.has(name)) manifest.add(name, recorded)
    await manifest.finish(options.durable).catch(() => manifest.discard())
    throw err
  }
  for (const [name, recorded] of previous) {
    if (!names.has(name)) await disk.removeIfRecorded(name, recorded)
  }
  // The renames are durable once their folders are; the manifest goes last, so after a crash it
  // never lists a file that is not there.
  if (options.durable) for (const folder of disk.foldersDeepestFirst()) await syncDirectory(folder)
  await manifest.finish(options.durable)
  if (options.durable) await syncDirectory(root)
  return { written, renamed: names.renamed }
}

/** Every file a checkout of `node` writes, named by `names`, read from the store only when written. */
async function* plannedFiles(objects: ObjectDb, node: CheckpointNode, names: OutputNames): AsyncGenerator<PlannedFile> {
  for (const [stage, output] of node.stages) {
    checkStageName(stage)
    if (node.trees.includes(stage)) {
      const top = names.folder(stage, `${stage}\0`, '', stage)
      for await (const entry of treeEntries(output, (cid) => objects.getNode(cid))) {
        checkTreePath(entry.path)
        const parts = entry.path.split('/')
        let folder = top
        for (let i = 0; i < parts.length - 1; i++) folder = names.folder(stage, `${stage}\0${parts.slice(0, i + 1).join('/')}`, folder, parts[i] as string)
        yield { name: names.file(stage, folder, parts.at(-1) as string), content: () => objects.readBlob(entry.cid) }
      }
    } else if (output.code === RAW_CODE) {
      yield { name: names.file(stage, '', stage), content: () => objects.readBlob(output) }
    } else {
      const value = await objects.getNode(output)
      yield { name: names.file(stage, '', `${stage}.json`), content: () => [new TextEncoder().encode(prettyJson(value) + '\n')] }
      const links = new Map(blobLinks(value).map((link) => [cidString(link), link]))
      for (const [id, link] of links) {
        const blobs = names.folder(stage, `${stage}\0.blobs`, '', `${stage}.blobs`)
        yield { name: names.file(stage, blobs, id), content: () => objects.readBlob(link) }
      }
    }
  }
}

/**
 * The checkout folder as found on disk: which of its folders exist as real folders (never a
 * symlink), which files ckpt recorded writing. Folders are looked at once each, not once per file.
 */
class TargetFolder {
  readonly #state = new Map<string, Promise<'absent' | 'folder'>>()
  readonly #made = new Map<string, Promise<void>>()

  constructor(
    readonly root: string,
    readonly recorded: ReadonlyMap<string, RecordedFile>,
    rootAbsent: boolean,
  ) {
    this.#state.set('.', Promise.resolve(rootAbsent ? 'absent' : 'folder'))
    this.#made.set('.', Promise.resolve())
  }

  /** WOULD_OVERWRITE unless `name` can be written: absent, ckpt's own file, or (with force) any non-folder. */
  async checkWritable(name: string, force: boolean): Promise<void> {
    if ((await this.#folderState(path.dirname(name))) === 'absent') return
    const found = await lstatOf(path.join(this.root, name))
    if (!found || isRecordedFile(found, this.recorded.get(name))) return
    if (found.isDirectory()) throw this.#inTheWay(name, 'is a folder')
    if (!force) {
      throw new CkptError('WOULD_OVERWRITE', `checkout would overwrite ${path.join(this.root, name)}, which ckpt did not write; use force to replace it`, {
        details: { path: path.join(this.root, name) },
      })
    }
  }

  /** Creates `folder` (relative) and its parents, replacing only a file ckpt recorded writing there. */
  makeFolder(folder: string): Promise<void> {
    let made = this.#made.get(folder)
    if (!made) {
      made = this.makeFolder(path.dirname(folder)).then(async () => {
        const full = path.join(this.root, folder)
        const found = await lstatOf(full)
        if (found?.isDirectory()) return
        if (found && !isRecordedFile(found, this.recorded.get(folder))) throw this.#inTheWay(folder, 'exists and is not a plain directory')
        if (found) await unlink(full)
        await mkdir(full)
      })
      this.#made.set(folder, made)
    }
    return made
  }

  /** Removes the file at `name` if it is still the one recorded, reached through real folders only. */
  async removeIfRecorded(name: string, recorded: RecordedFile): Promise<void> {
    if ((await this.#folderState(path.dirname(name)).catch(() => 'absent')) !== 'folder') return
    const full = path.join(this.root, name)
    if (isRecordedFile(await lstatOf(full), recorded)) await rm(full, { force: true })
  }

  /** Every folder this checkout made or wrote into, deepest first (each one's name is in the next). */
  foldersDeepestFirst(): string[] {
    return [...this.#made.keys()].map((f) => path.join(this.root, f)).sort((a, b) => b.length - a.length)
  }

  #folderState(folder: string): Promise<'absent' | 'folder'> {
    let state = this.#state.get(folder)
    if (!state) {
      state = this.#folderState(path.dirname(folder)).then(async (parent) => {
        if (parent === 'absent') return 'absent'
        const found = await lstatOf(path.join(this.root, folder))
        if (!found) return 'absent'
        if (found.isDirectory()) return 'folder'
        if (isRecordedFile(found, this.recorded.get(folder))) return 'absent'
        throw this.#inTheWay(folder, 'exists and is not a plain directory')
      })
      this.#state.set(folder, state)
    }
    return state
  }

  #inTheWay(name: string, what: string): CkptError {
    const full = path.join(this.root, name)
    return new CkptError('WOULD_OVERWRITE', `${full} ${what}; checkout does not replace it`, { details: { path: full } })
  }
}

async function lstatOf(file: string): Promise<BigIntStats | undefined> {
  return lstat(file, { bigint: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined
    throw fileSystemError(err, file, 'cannot check')
  })
}

/** Runs `work` on every item, `limit` at a time; on the first failure stops taking new items and rethrows it. */
async function forEachConcurrently<T>(items: AsyncIterable<T>, limit: number, work: (item: T) => Promise<void>): Promise<void> {
  const iterator = items[Symbol.asyncIterator]()
  let failure: { err: unknown } | undefined
  const worker = async () => {
    while (!failure) {
      try {
        const next = await iterator.next()
        if (next.done || failure) return
        await work(next.value)
      } catch (err) {
        failure ??= { err }
      }
    }
  }
  await Promise.all(Array.from({ length: limit }, worker))
  if (failure) throw failure.err
}

function prettyJson(node: unknown): string {
  // Integers beyond 2^53 decode as BigInt (only stores written by other tools hold them).
  return JSON.stringify(linksToJson(node), (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value), 2)
}

const WRITE_BATCH_BYTES = 8 * 1024 * 1024
/** Files up to this size, when not fsynced, are written with a few blocking calls: far cheaper than a trip through the thread pool each. */
const SMALL_FILE_BYTES = 256 * 1024

/** Temporary names: `.ckpt-tmp-` and hex digits, unique per process by a random prefix and a counter. */
const tempPrefix = randomBytes(4).toString('hex')
let tempCounter = 0
const tempName = (folder: string) => path.join(folder, `.ckpt-tmp-${tempPrefix}${(tempCounter++).toString(16).padStart(8, '0')}`)

/**
 * Writes under a temporary name in the same folder, fsyncs when `durable`, then renames: the final
 * name never holds a partial file. Returns the file's stat, taken before the rename (which keeps it).
 */
async function writeAtomically(target: string, content: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, durable: boolean): Promise<BigIntStats> {
  // A short temporary name of its own, so a name near the length limit still has room.
  const temp = tempName(path.dirname(target))
  const pieces = Symbol.asyncIterator in content ? content[Symbol.asyncIterator]() : toAsync(content)
  // Pieces are gathered into large vectored writes: one system call per few MiB, not per chunk.
  let gathered: Uint8Array[] = []
  let gatheredBytes = 0
  for (;;) {
    const next = await pieces.next()
    if (next.done) break
    gathered.push(next.value)
    gatheredBytes += next.value.length
    if (gatheredBytes > SMALL_FILE_BYTES) break
  }
  if (gatheredBytes <= SMALL_FILE_BYTES && !durable) return writeSmallFile(temp, target, gathered)
  const handle = await open(temp, 'wx')
  let written: BigIntStats
  try {
    let position = await writeAllAt(handle, gathered, 0)
    gathered = []
    gatheredBytes = 0
    for (let next = await pieces.next(); !next.done; next = await pieces.next()) {
      gathered.push(next.value)
      gatheredBytes += next.value.length
      if (gatheredBytes >= WRITE_BATCH_BYTES) {
        position = await writeAllAt(handle, gathered, position)
        gathered = []
        gatheredBytes = 0
      }
    }
    await writeAllAt(handle, gathered, position)
    if (durable) await handle.sync()
    written = await handle.stat({ bigint: true })
  } catch (err) {
    await handle.close()
    await rm(temp, { force: true })
    throw err
  }
  await handle.close()
  await rename(temp, target)
  return written
}

function writeSmallFile(temp: string, target: string, pieces: readonly Uint8Array[]): BigIntStats {
  const fd = openSync(temp, 'wx')
  let written: BigIntStats
  try {
    for (const piece of pieces) for (let at = 0; at < piece.length; ) at += writeSync(fd, piece, at)
    written = fstatSync(fd, { bigint: true })
  } catch (err) {
    closeSync(fd)
    rmSync(temp, { force: true })
    throw err
  }
  closeSync(fd)
  renameSync(temp, target)
  return written
}

async function* toAsync<T>(items: Iterable<T>): AsyncGenerator<T> {
  yield* items
}

import type { BigIntStats } from 'node:fs'
import { lstat, mkdir, readdir, rm, stat, unlink } from 'node:fs/promises'
import path from 'node:path'
import { CkptError, quoted } from '../errors.js'
import { cidString, type CID } from '../model/cid.js'
import { fileSystemError, onPath } from '../io/fs-errors.js'
import { mkdirDurable, syncDirectory } from '../io/sync-dir.js'
import type { CheckpointNode } from '../model/checkpoint.js'
import type { ObjectDb } from '../core/objects.js'
import { CHECKOUT_MANIFEST, ManifestWriter, isRecordedFile, readManifest, recordOf, type RecordedFile } from './manifest.js'
import { OutputNames, checkNameLength, type RenamedOutput } from './names.js'
import { countPlanned, countedContent, plannedFiles } from './planned.js'
import { writeStaged, type CheckoutProgress } from './staged.js'
import { writeAtomically, type PieceSource } from './write-file.js'

export { CHECKOUT_MANIFEST } from './manifest.js'

export interface CheckoutDirOptions extends CheckoutProgress {
  readonly force: boolean
  /** fsync each file and folder (the store's `fsync` durability): survives power loss, not only a killed process. */
  readonly durable: boolean
}

export interface CheckoutDirResult {
  readonly written: string[]
  readonly renamed: RenamedOutput[]
}

/** Files written at once: enough to keep the disk and the thread pool busy with small files. */
const CONCURRENT_FILES = 16

/**
 * Writes each stage output of a checkpoint into `dir`: JSON as `<stage>.json` (bytes inside it
 * appear as `{ "/": id }` links and are written to `<stage>.blobs/<id>`), bytes as `<stage>`,
 * directories as the folder `<stage>/`. Names that collide get `~2`, `~3`, … and are reported.
 *
 * A new or empty folder is written through a staging folder in one pass (staged.ts), unless
 * files are fsynced. Otherwise everything is checked before the first write (names the file
 * system cannot hold, files ckpt did not write, folders in the way), and each file is written to
 * a temporary name and renamed. Either way no file is ever half-written under its final name.
 * Files are streamed from the tree, and the manifest to disk, so memory stays bounded by the
 * number of names, not their contents.
 */
export async function writeCheckoutDir(objects: ObjectDb, checkpoint: CID, node: CheckpointNode, dir: string, options: CheckoutDirOptions): Promise<CheckoutDirResult> {
  const root = path.resolve(dir)
  if (!options.durable && (await isNewOrEmpty(root))) {
    const staged = await writeStaged(objects, checkpoint, node, root, dir, options)
    if (staged) return staged
  }
  const existing = await stat(root).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined
    throw fileSystemError(err, dir, 'cannot restore into')
  })
  if (existing && !existing.isDirectory()) {
    throw new CkptError('WOULD_OVERWRITE', `cannot restore into ${quoted(dir)}: it is a file, not a folder`, { details: { path: dir } })
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

  if (!existing) await onPath(dir, () => mkdirDurable(root), 'cannot create the folder to restore into')
  const names = new OutputNames([CHECKOUT_MANIFEST])
  const manifest = await onPath(dir, () => ManifestWriter.create(root, cidString(checkpoint)), 'cannot write into')
  const written: string[] = []
  const { onBytes } = options
  const totalBytes = onBytes ? (await countPlanned(objects, node)).bytes : 0
  let bytes = 0
  const addBytes = (n: number) => onBytes?.((bytes += n), totalBytes)
  try {
    await forEachConcurrently(plannedFiles(objects, node, names), CONCURRENT_FILES, async (file) => {
      const target = path.join(root, file.name)
      await disk.makeFolder(path.dirname(file.name))
      const content: PieceSource = onBytes ? (buffers) => countedContent(file, addBytes, buffers) : file.content
      manifest.add(file.name, recordOf(await writeAtomically(target, content, options.durable)))
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
      throw new CkptError('WOULD_OVERWRITE', `restore would overwrite ${path.join(this.root, name)}, which ckpt did not write; use force to replace it`, {
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

/** Whether `root` does not exist, or is a real folder (not a link to one) with nothing in it. Undecided (an error) counts as no. */
async function isNewOrEmpty(root: string): Promise<boolean> {
  try {
    const found = await lstat(root)
    return found.isDirectory() && (await readdir(root)).length === 0
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT'
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

import { randomBytes } from 'node:crypto'
import { linkSync, lstatSync, mkdirSync, renameSync, unlinkSync } from 'node:fs'
import { mkdir, rm, rmdir } from 'node:fs/promises'
import path from 'node:path'
import { CkptError } from '../errors.js'
import { cidString, type CID } from '../model/cid.js'
import type { CheckpointNode } from '../model/checkpoint.js'
import type { ObjectDb } from '../core/objects.js'
import { fileSystemError, onPath } from '../io/fs-errors.js'
import { mkdirDurable } from '../io/sync-dir.js'
import { CHECKOUT_MANIFEST, ManifestWriter } from './manifest.js'
import { FileSink } from './file-sink.js'
import { OutputNames, checkNameLength, fitsPathMax, type RenamedOutput } from './names.js'
import { countPlanned, countedContent, plannedBatches, type PlannedFile } from './planned.js'

export interface CheckoutProgress {
  /** Files written so far, of all. */
  readonly onProgress?: ((written: number, total: number) => void) | undefined
  /** Bytes written so far, of all, told often. */
  readonly onBytes?: ((written: number, total: number) => void) | undefined
}

export interface StagedResult {
  readonly written: string[]
  readonly renamed: RenamedOutput[]
}

/** Thrown inside {@link writeStaged} when a name fits the checkout folder but not the staging folder. */
class StagingTooDeep extends Error {}

/**
 * Checks out into `root`, a folder that does not exist yet or is empty, in one pass. Every file is
 * written under its final name inside a staging folder `.ckpt-tmp-…` in `root`, and each output
 * (a file, or a whole folder) is renamed out of it once all of it is written: one rename per
 * output instead of a temporary name and a rename per file. Nothing can be in the way, so names
 * are checked as the files are written. An output never replaces what appeared at its name
 * meanwhile (WOULD_OVERWRITE); on any failure the staging folder, the outputs already moved and
 * the folders this created are removed, so the folder is as it was. A killed checkout leaves whole outputs and the staging folder, never a
 * partial output under its final name. Not fsynced: the caller takes this path in process mode only.
 *
 * Returns undefined, having written nothing, when a path would fit `root` but is too long for
 * the staging folder; the caller then checks out file by file.
 */
export async function writeStaged(
  objects: ObjectDb,
  checkpoint: CID,
  node: CheckpointNode,
  root: string,
  dir: string,
  progress: CheckoutProgress,
): Promise<StagedResult | undefined> {
  const { onProgress, onBytes } = progress
  const total = onProgress || onBytes ? await countPlanned(objects, node) : { files: 0, bytes: 0 }
  let bytes = 0
  const addBytes = (n: number) => onBytes?.((bytes += n), total.bytes)
  // Files written from their content (not from one block) count their bytes as they are read.
  const counted = new Set<string>()
  const created = await onPath(dir, () => mkdirDurable(root), 'cannot create the folder to restore into')
  const staging = path.join(root, `.ckpt-tmp-${randomBytes(6).toString('hex')}`)
  let manifest: ManifestWriter | undefined
  let sink: FileSink | undefined
  // Outputs already renamed into `root`, which was empty: on failure they go too.
  const moved: string[] = []
  try {
    await onPath(dir, () => mkdir(staging), 'cannot write into')
    const writing = await onPath(dir, () => ManifestWriter.create(root, cidString(checkpoint)), 'cannot write into')
    manifest = writing
    let count = 0
    const files = new FileSink(root, (name, recorded) => {
      writing.add(name, recorded)
      if (!counted.delete(name)) addBytes(recorded.size)
      onProgress?.(++count, total.files)
    })
    sink = files
    const names = new OutputNames([CHECKOUT_MANIFEST])
    const folders = new Set<string>(['.'])
    const outputs = new Set<string>()
    const written: string[] = []
    for await (const [batch, blocks] of withBlocks(objects, plannedBatches(objects, node, names))) {
      for (const [i, file] of batch.entries()) {
        checkNameLength(root, file.name)
        if (!fitsPathMax(staging, file.name)) throw new StagingTooDeep()
        makeFolders(staging, path.dirname(file.name), folders)
        // A blob of one block (every small file) is read whole; larger ones are streamed.
        const block = blocks[i]
        // Names are plain relative paths (checked in the tree, made by OutputNames): joined as they are.
        let content = file.content
        if (!block && onBytes) {
          counted.add(file.name)
          content = (buffers) => countedContent(file, addBytes, buffers)
        }
        await files.add(file.name, `${staging}/${file.name}`, block, content, file.blob)
        written.push(file.name)
        outputs.add(outputOf(file.name))
      }
    }
    await files.finish()
    for (const output of outputs) {
      moveOut(staging, root, output)
      moved.push(output)
    }
    // The manifest goes last, so it never lists a file that is not there.
    await writing.finish(false)
    // The checkout is complete: an empty staging folder that cannot be removed is no failure.
    await rmdir(staging).catch(() => undefined)
    return { written, renamed: names.renamed }
  } catch (err) {
    await sink?.abandon()
    await manifest?.discard()
    await rm(staging, { recursive: true, force: true })
    for (const output of moved) await rm(path.join(root, output), { recursive: true, force: true })
    for (const folder of created.reverse()) await rmdir(folder).catch(() => undefined)
    if (err instanceof StagingTooDeep) return undefined
    throw err
  }
}

/**
 * Each batch with the block of each of its files (undefined for a file that is not one block),
 * the next batch's blocks being read while the caller writes this one's.
 */
async function* withBlocks(objects: ObjectDb, batches: AsyncIterable<PlannedFile[]>): AsyncGenerator<[PlannedFile[], Array<Uint8Array | undefined>]> {
  const blocksOf = async (batch: PlannedFile[]): Promise<Array<Uint8Array | undefined>> => {
    const blobs = batch.flatMap((file) => (file.blob ? [file.blob] : []))
    // Checked against their ids as they are written (FileSink), on the writer thread for most.
    const read = await objects.getBlocksUnchecked(blobs)
    let next = 0
    return batch.map((file) => (file.blob ? read[next++] : undefined))
  }
  let previous: [PlannedFile[], Promise<Array<Uint8Array | undefined>>] | undefined
  for await (const batch of batches) {
    const reading = blocksOf(batch)
    // Awaited below; a failure before then (the caller gone) must not surface as unhandled.
    reading.catch(() => undefined)
    if (previous) yield [previous[0], await previous[1]]
    previous = [batch, reading]
  }
  if (previous) yield [previous[0], await previous[1]]
}

/** The top-level entry of the checkout folder that `name` is in, or is. */
function outputOf(name: string): string {
  const slash = name.indexOf('/')
  return slash < 0 ? name : name.slice(0, slash)
}

/** Creates `folder` (relative to `staging`) and its parents the first time each is asked for. */
function makeFolders(staging: string, folder: string, made: Set<string>): void {
  if (made.has(folder)) return
  makeFolders(staging, path.dirname(folder), made)
  mkdirSync(path.join(staging, folder))
  made.add(folder)
}

/**
 * Moves one finished output from the staging folder into the checkout folder, never over anything
 * there: only something made in `root` during the checkout (a user's file, another checkout) can
 * be, and it is left as it is. A file is linked (which refuses an existing name) and then
 * unlinked from the staging folder; a folder is renamed once nothing is at its name.
 */
function moveOut(staging: string, root: string, name: string): void {
  const source = path.join(staging, name)
  const target = path.join(root, name)
  const inTheWay = () => new CkptError('WOULD_OVERWRITE', `${target} appeared during the checkout; checkout does not replace it`, { details: { path: target } })
  const renameIfFree = () => {
    if (lstatSync(target, { throwIfNoEntry: false })) throw inTheWay()
    renameSync(source, target)
  }
  try {
    if (lstatSync(source).isDirectory()) return renameIfFree()
    try {
      linkSync(source, target)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EEXIST') throw inTheWay()
      // A file system without hard links: the same check as for a folder.
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err
      return renameIfFree()
    }
    unlinkSync(source)
  } catch (err) {
    if (err instanceof CkptError) throw err
    if ((err as NodeJS.ErrnoException).code === 'ENOTEMPTY') throw inTheWay()
    throw fileSystemError(err, target, 'cannot move into place')
  }
}

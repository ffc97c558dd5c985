import { randomBytes } from 'node:crypto'
import { lstat, mkdir, open, readFile, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import { CkptError } from '../errors.js'
import { RAW_CODE, cidString, type CID } from '../model/cid.js'
import { blobLinks, linksToJson } from '../model/value.js'
import { writeAllAt } from '../io/write-all.js'
import { mkdirDurable, syncDirectory } from '../io/sync-dir.js'
import { checkStageName } from '../refs/names.js'
import type { CheckpointNode } from '../model/checkpoint.js'
import { checkTreePath, readTree } from '../model/tree.js'
import type { ObjectDb } from '../core/objects.js'

/** Lists what the last checkout wrote, so the next one knows which files are its own. */
export const CHECKOUT_MANIFEST = '.ckpt-checkout.json'

interface Manifest {
  readonly checkpoint: string
  readonly files: string[]
}

interface PlannedFile {
  readonly name: string
  readonly content: () => Iterable<Uint8Array> | AsyncIterable<Uint8Array>
}

/**
 * Writes each stage output of a checkpoint into `dir`: JSON as `<stage>.json` (bytes inside it
 * appear as `{ "/": id }` links and are written to `<stage>.blobs/<id>`), bytes as `<stage>`.
 * Every file is written to a temporary name and renamed, so no file is ever half-written under
 * its final name. Files ckpt did not write are never overwritten unless `force`.
 */
export async function writeCheckoutDir(
  objects: ObjectDb,
  checkpoint: CID,
  node: CheckpointNode,
  dir: string,
  force: boolean,
  onProgress?: (written: number, total: number) => void,
): Promise<string[]> {
  const root = path.resolve(dir)
  await mkdirDurable(root)
  const previous = await readManifest(root)
  const planned: PlannedFile[] = []
  for (const [stage, output] of node.stages) {
    checkStageName(stage)
    if (node.trees.includes(stage)) {
      for (const entry of await readTree(output, (cid) => objects.getNode(cid))) {
        checkTreePath(entry.path)
        planned.push({ name: path.join(stage, ...entry.path.split('/')), content: () => objects.readBlob(entry.cid) })
      }
      continue
    }
    if (output.code === RAW_CODE) {
      planned.push({ name: stage, content: () => objects.readBlob(output) })
      continue
    }
    const value = await objects.getNode(output)
    planned.push({ name: `${stage}.json`, content: () => [new TextEncoder().encode(prettyJson(value) + '\n')] })
    for (const link of blobLinks(value)) planned.push({ name: path.join(`${stage}.blobs`, cidString(link)), content: () => objects.readBlob(link) })
  }
  const ours = new Set(previous?.files ?? [])
  for (const file of planned) {
    const target = insideRoot(root, file.name)
    if (!force && !ours.has(file.name) && (await exists(target))) {
      throw new CkptError('WOULD_OVERWRITE', `checkout would overwrite ${target}, which ckpt did not write; use force to replace it`, {
        details: { path: target },
      })
    }
  }
  const written: string[] = []
  const folders = new Set<string>([root])
  for (const file of planned) {
    const target = insideRoot(root, file.name)
    await ensureRealDirectories(root, path.dirname(target))
    await writeAtomically(target, file.content())
    // The file's folder holds its name; each new folder's name is in the folder above.
    for (let folder = path.dirname(target); folder.startsWith(root) && !folders.has(folder); folder = path.dirname(folder)) folders.add(folder)
    written.push(file.name)
    onProgress?.(written.length, planned.length)
  }
  const keep = new Set(written)
  for (const stale of previous?.files ?? []) {
    if (!keep.has(stale)) await rm(insideRoot(root, stale), { force: true })
  }
  // The renames are durable once their folders are; the manifest goes last, so after a crash it
  // never lists a file that is not there.
  for (const folder of [...folders].sort((a, b) => b.length - a.length)) await syncDirectory(folder)
  await writeAtomically(path.join(root, CHECKOUT_MANIFEST), [new TextEncoder().encode(JSON.stringify({ checkpoint: cidString(checkpoint), files: written }, null, 2) + '\n')])
  await syncDirectory(root)
  return written
}

function prettyJson(node: unknown): string {
  // Integers beyond 2^53 decode as BigInt (only stores written by other tools hold them).
  return JSON.stringify(linksToJson(node), (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value), 2)
}

function insideRoot(root: string, relative: string): string {
  const target = path.resolve(root, relative)
  if (path.relative(root, target).startsWith('..') || path.isAbsolute(path.relative(root, target))) {
    throw new CkptError('INVALID_ARGUMENT', `refusing to write ${relative} outside ${root}`, { details: { path: relative } })
  }
  return target
}

/** Creates every folder from `root` down to `folder`, refusing any that is a symlink or a file. */
async function ensureRealDirectories(root: string, folder: string): Promise<void> {
  let current = root
  for (const part of path.relative(root, folder).split(path.sep).filter((p) => p !== '')) {
    current = path.join(current, part)
    const stat = await lstat(current).catch(() => undefined)
    if (!stat) await mkdir(current)
    else if (!stat.isDirectory() || stat.isSymbolicLink()) {
      throw new CkptError('WOULD_OVERWRITE', `${current} exists and is not a plain directory`, { details: { path: current } })
    }
  }
}

async function exists(target: string): Promise<boolean> {
  return (await lstat(target).catch(() => undefined)) !== undefined
}

const WRITE_BATCH_BYTES = 8 * 1024 * 1024

/** Writes under a temporary name, fsyncs, then renames: the final name never holds a partial file. */
async function writeAtomically(target: string, content: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<void> {
  const temp = `${target}.ckpt-tmp-${randomBytes(6).toString('hex')}`
  const handle = await open(temp, 'wx')
  try {
    // Pieces are gathered into large vectored writes: one system call per few MiB, not per chunk.
    let gathered: Uint8Array[] = []
    let gatheredBytes = 0
    let position = 0
    for await (const piece of content) {
      gathered.push(piece)
      gatheredBytes += piece.length
      if (gatheredBytes >= WRITE_BATCH_BYTES) {
        position = await writeAllAt(handle, gathered, position)
        gathered = []
        gatheredBytes = 0
      }
    }
    await writeAllAt(handle, gathered, position)
    await handle.sync()
  } catch (err) {
    await handle.close()
    await rm(temp, { force: true })
    throw err
  }
  await handle.close()
  await rename(temp, target)
}

async function readManifest(root: string): Promise<Manifest | undefined> {
  try {
    const parsed = JSON.parse(await readFile(path.join(root, CHECKOUT_MANIFEST), 'utf8')) as Manifest
    return Array.isArray(parsed.files) && parsed.files.every((f) => typeof f === 'string') ? parsed : undefined
  } catch {
    return undefined
  }
}

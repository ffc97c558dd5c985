import { RAW_CODE, cidString, type CID } from '../model/cid.js'
import { blobLinks, linksToJson } from '../model/value.js'
import { checkStageName } from '../refs/names.js'
import type { CheckpointNode } from '../model/checkpoint.js'
import { treeLeaves, treeSummary } from '../model/tree.js'
import type { ObjectDb } from '../core/objects.js'
import type { ReusableBuffers } from '../io/reusable-buffers.js'
import type { OutputNames } from './names.js'

/** One file a checkout writes: its path relative to the checkout folder, and its bytes, read when asked. */
export interface PlannedFile {
  readonly name: string
  /** The bytes; a large blob is read into memory from `buffers`, to be given back once written. */
  readonly content: (buffers?: ReusableBuffers) => Iterable<Uint8Array> | AsyncIterable<Uint8Array>
  /** The blob holding the content, when it is one (not JSON written out as text). */
  readonly blob?: CID
}

/** Every file a checkout of `node` writes, named by `names`, read from the store only when written. */
export async function* plannedFiles(objects: ObjectDb, node: CheckpointNode, names: OutputNames): AsyncGenerator<PlannedFile> {
  for await (const batch of plannedBatches(objects, node, names)) yield* batch
}

/** {@link plannedFiles} in batches: a leaf of a folder output's tree at a time (about 32 files). */
export async function* plannedBatches(objects: ObjectDb, node: CheckpointNode, names: OutputNames): AsyncGenerator<PlannedFile[]> {
  const blobFile = (name: string, blob: CID): PlannedFile => ({ name, blob, content: (buffers) => objects.readBlob(blob, {}, buffers) })
  for (const [stage, output] of node.stages) {
    checkStageName(stage)
    if (node.trees.includes(stage)) {
      const folders = new FolderNames(names, stage)
      // Tree entries are checked as safe relative paths when their leaf is read (model/tree.ts).
      for await (const leaf of treeLeaves(output, (cid) => objects.getNode(cid))) {
        yield leaf.map((entry) => {
          const slash = entry.path.lastIndexOf('/')
          const folder = folders.of(slash < 0 ? '' : entry.path.slice(0, slash))
          return blobFile(names.file(stage, folder, entry.path.slice(slash + 1)), entry.cid)
        })
      }
    } else if (output.code === RAW_CODE) {
      yield [blobFile(names.file(stage, '', node.files?.get(stage) ?? stage), output)]
    } else {
      const value = await objects.getNode(output)
      yield [{ name: names.file(stage, '', `${stage}.json`), content: () => [jsonFileBytes(value)] }]
      const links = new Map(blobLinks(value).map((link) => [cidString(link), link]))
      for (const [id, link] of links) {
        const blobs = names.folder(stage, `${stage}\0.blobs`, '', `${stage}.blobs`)
        yield [blobFile(names.file(stage, blobs, id), link)]
      }
    }
  }
}

/**
 * How many files a checkout of `node` writes, and how many bytes, for progress: a folder output's
 * figures are read from its tree's root node (stored when it was built), not by walking the tree.
 */
export async function countPlanned(objects: ObjectDb, node: CheckpointNode): Promise<{ files: number; bytes: number }> {
  let files = 0
  let bytes = 0
  for (const [stage, output] of node.stages) {
    if (node.trees.includes(stage)) {
      const summary = treeSummary(await objects.getNode(output))
      files += summary?.files ?? 0
      bytes += summary?.size ?? 0
    } else if (output.code === RAW_CODE) {
      files++
      bytes += (await objects.sizeOf(output)).size
    } else {
      const value = await objects.getNode(output)
      const links = new Map(blobLinks(value).map((link) => [cidString(link), link]))
      files += 1 + links.size
      bytes += jsonFileBytes(value).length
      for (const link of links.values()) bytes += (await objects.sizeOf(link)).size
    }
  }
  return { files, bytes }
}

/** The bytes of `file`'s content, as a checkout reads them, told to `onBytes` piece by piece. */
export async function* countedContent(file: PlannedFile, onBytes: (n: number) => void, buffers?: ReusableBuffers): AsyncIterable<Uint8Array> {
  for await (const piece of file.content(buffers)) {
    yield piece
    onBytes(piece.length)
  }
}

/** The checkout names of a folder output's subfolders, remembering the last one asked for: files come sorted, so mostly the same. */
class FolderNames {
  readonly #top: string
  #lastPath = ''
  #lastName: string

  constructor(
    readonly names: OutputNames,
    readonly stage: string,
  ) {
    // The output's own folder is named even when it holds no file, as it always was.
    this.#top = names.folder(stage, `${stage}\0`, '', stage)
    this.#lastName = this.#top
  }

  /** The name of the folder at `logical` ('' for the output's own folder), made up the first time. */
  of(logical: string): string {
    if (logical === this.#lastPath) return this.#lastName
    const { names, stage } = this
    let folder = this.#top
    if (logical !== '') {
      const parts = logical.split('/')
      for (let i = 0; i < parts.length; i++) folder = names.folder(stage, `${stage}\0${parts.slice(0, i + 1).join('/')}`, folder, parts[i] as string)
    }
    this.#lastPath = logical
    this.#lastName = folder
    return folder
  }
}

const jsonFileBytes = (value: unknown): Uint8Array => new TextEncoder().encode(prettyJson(value) + '\n')

function prettyJson(node: unknown): string {
  // Integers beyond 2^53 decode as BigInt (only stores written by other tools hold them).
  return JSON.stringify(linksToJson(node), (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value), 2)
}

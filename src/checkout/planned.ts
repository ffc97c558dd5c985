import { RAW_CODE, cidString } from '../model/cid.js'
import { blobLinks, linksToJson } from '../model/value.js'
import { checkStageName } from '../refs/names.js'
import type { CheckpointNode } from '../model/checkpoint.js'
import { checkTreePath, treeEntries } from '../model/tree.js'
import type { ObjectDb } from '../core/objects.js'
import type { OutputNames } from './names.js'

/** One file a checkout writes: its path relative to the checkout folder, and its bytes, read when asked. */
export interface PlannedFile {
  readonly name: string
  readonly content: () => Iterable<Uint8Array> | AsyncIterable<Uint8Array>
}

/** Every file a checkout of `node` writes, named by `names`, read from the store only when written. */
export async function* plannedFiles(objects: ObjectDb, node: CheckpointNode, names: OutputNames): AsyncGenerator<PlannedFile> {
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

function prettyJson(node: unknown): string {
  // Integers beyond 2^53 decode as BigInt (only stores written by other tools hold them).
  return JSON.stringify(linksToJson(node), (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value), 2)
}

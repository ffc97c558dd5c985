import path from 'node:path'
import { CID } from 'multiformats/cid'
import { openLevelBackend, type ObjectStore } from '../../src/index.js'

/**
 * Whether `key` is an object key as docs/format.md defines them: a CID's bytes, `0x00` and a
 * chunked blob's CID bytes (its manifest), or `0x03` and a checkpoint's CID bytes (its history
 * segment). Nothing else belongs in the object keyspace.
 */
export function isObjectKey(key: Uint8Array): boolean {
  const cid = key[0] === 0x00 || key[0] === 0x03 ? key.subarray(1) : key
  try {
    return CID.decode(cid).bytes.length === cid.length
  } catch {
    return false
  }
}

/** The keys of `objects` that are not object keys, as hex. */
export async function foreignKeys(objects: ObjectStore): Promise<string[]> {
  const found: string[] = []
  for await (const key of objects.keys()) if (!isObjectKey(key)) found.push(Buffer.from(key).toString('hex'))
  return found
}

/** The same, for the LevelDB store at `dir` (opened beside any process holding it, as a follower). */
export async function foreignKeysInStore(dir: string): Promise<string[]> {
  const backend = await openLevelBackend(path.join(dir, 'db'))
  try {
    return await foreignKeys(backend.objects)
  } finally {
    await backend.close()
  }
}

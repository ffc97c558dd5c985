import path from 'node:path'
import { ClassicLevel } from 'classic-level'
import { expect } from 'vitest'
import { openLevelBackend, openStore } from '../../src/index.js'
import { CID, DAG_JSON_CODE, RAW_CODE, cidOf, objectKey } from '../../src/model/cid.js'
import { encodeNode } from '../../src/model/value.js'
import { ckpt } from './cli.js'
import { tempDir } from './temp.js'

/** A project folder with a store (in `.ckpt`) whose main timeline holds one ordinary checkpoint. */
export function projectWithOneCheckpoint(): { dir: string; store: string; head: string } {
  const dir = tempDir()
  expect(ckpt(dir, ['init']).code).toBe(0)
  expect(ckpt(dir, ['commit', '-s', 'good', '--json', '-'], { input: '{"a":1}' }).code).toBe(0)
  return { dir, store: path.join(dir, '.ckpt'), head: ckpt(dir, ['rev-parse', 'main']).stdout.trim() }
}

/**
 * Points `timelines/main` of the store at `store`, behind ckpt's back (straight through the
 * backend), at a new checkpoint on top of `parent` with one stage `name` holding a raw blob.
 * `extra` fields go into the node as they are. Returns the planted checkpoint's id and its blob's id.
 */
export async function plantCheckpoint(store: string, parent: string, name: string, extra: Record<string, unknown> = {}): Promise<{ head: string; blob: string }> {
  const backend = await openLevelBackend(path.join(store, 'db'))
  const blobBytes = new TextEncoder().encode(`payload of ${name}`)
  const blob = cidOf(RAW_CODE, blobBytes)
  const bytes = encodeNode({ type: 'checkpoint', v: 1, parents: [CID.parse(parent)], stages: { [name]: blob }, message: 'planted', author: 'x', time: 1, meta: {}, ...extra })
  const head = cidOf(DAG_JSON_CODE, bytes)
  await backend.refs.updateRefs(
    [{ name: 'timelines/main', expected: parent, value: head.toString(), log: { time: 0, reason: 'test' } }],
    [{ key: objectKey(blob), value: blobBytes }, { key: objectKey(head), value: bytes }],
  )
  await backend.close()
  return { head: head.toString(), blob: blob.toString() }
}

/** Deletes one object's key from the store's LevelDB, as a lost or damaged table would. */
export async function deleteObject(store: string, id: string): Promise<void> {
  // A clean close folds the write journal into the database, so the deletion is not replayed away.
  await (await openStore(store)).close()
  const db = new ClassicLevel<Uint8Array, Uint8Array>(path.join(store, 'db'), { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  await db.del(Uint8Array.from([0x6f, ...objectKey(CID.parse(id))])) // 'o' + object key
  await db.close()
}

/** Stores `bytes` under one object's key in the store's LevelDB, as damage on disk would: the bytes no longer match the id. */
export async function replaceObject(store: string, id: string, bytes: Uint8Array): Promise<void> {
  await (await openStore(store)).close()
  const db = new ClassicLevel<Uint8Array, Uint8Array>(path.join(store, 'db'), { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  await db.put(Uint8Array.from([0x6f, ...objectKey(CID.parse(id))]), bytes)
  await db.close()
}

import * as dagJson from './dag-json.js'
import { CkptError, shortened } from '../errors.js'
import { CID, RAW_CODE, cidOf } from './cid.js'

/** A JSON value as ckpt stores it (the IPLD data model without links and bytes). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }

/** A stage output as returned on read: JSON whose leaves may also be bytes. */
export type OutputValue = null | boolean | number | string | Uint8Array | OutputValue[] | { [key: string]: OutputValue }

/** A raw block to store beside a node. */
export interface Blob {
  readonly cid: CID
  readonly bytes: Uint8Array
}

/** Nesting deeper than this is rejected: decoders recurse, and no real output needs more. */
export const MAX_DEPTH = 1000

type Purpose = 'output' | 'config' | 'meta'

/**
 * Checks that `value` is representable in dag-json and converts it to the stored form:
 * every Uint8Array becomes a link to a raw blob (returned in `blobs`). Throws INVALID_OUTPUT
 * (INVALID_ARGUMENT for config and metadata) naming the JSON pointer of the first bad value.
 */
export function toStoredNode(value: unknown, purpose: Purpose = 'output', label?: string): { node: unknown; blobs: Blob[] } {
  const blobs = new Map<string, Blob>()
  const ancestors = new Set<object>()
  const fail = (path: string, what: string): never => {
    const code = purpose === 'output' ? 'INVALID_OUTPUT' : 'INVALID_ARGUMENT'
    const where = path === '' ? 'at the root' : `at ${shortened(path)}`
    const subject = label ?? purpose
    throw new CkptError(code, `${subject}: ${what} ${where} cannot be stored (dag-json holds only JSON data and bytes)`, {
      details: { path },
    })
  }

  const visit = (v: unknown, path: string, depth: number): unknown => {
    if (depth > MAX_DEPTH) fail(path, `nesting deeper than ${MAX_DEPTH} levels`)
    switch (typeof v) {
      case 'string':
        if (!v.isWellFormed()) fail(path, 'a string with an unpaired surrogate')
        return v
      case 'boolean':
        return v
      case 'number':
        if (Number.isNaN(v)) fail(path, 'NaN')
        if (!Number.isFinite(v)) fail(path, String(v))
        if (Number.isInteger(v) && !Number.isSafeInteger(v)) fail(path, `the integer ${v} (beyond ±2^53-1)`)
        return Object.is(v, -0) ? 0 : v
      case 'bigint':
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) fail(path, `the BigInt ${v} (beyond ±2^53-1)`)
        return Number(v)
      case 'undefined':
        return fail(path, 'undefined')
      case 'function':
        return fail(path, 'a function')
      case 'symbol':
        return fail(path, 'a symbol')
      case 'object':
        break
    }
    if (v === null) return null
    const obj = v as object
    if (obj instanceof Uint8Array) {
      if (purpose !== 'output') fail(path, 'bytes')
      if (Object.getPrototypeOf(obj) !== Uint8Array.prototype && !Buffer.isBuffer(obj)) fail(path, 'a Uint8Array subclass')
      const bytes = obj as Uint8Array
      const cid = cidOf(RAW_CODE, bytes)
      blobs.set(cid.toString(), { cid, bytes })
      return cid
    }
    if (ancestors.has(obj)) fail(path, 'a cycle')
    ancestors.add(obj)
    try {
      if (Array.isArray(obj)) {
        return obj.map((item, i) => visit(item, `${path}/${i}`, depth + 1))
      }
      const proto = Object.getPrototypeOf(obj)
      if (proto !== Object.prototype && proto !== null) {
        fail(path, `an instance of ${describeClass(obj)}`)
      }
      const out: Record<string, unknown> = {}
      for (const key of Object.keys(obj)) {
        const child = (obj as Record<string, unknown>)[key]
        const childPath = `${path}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`
        if (key === '/') fail(childPath, 'the key "/" (reserved by dag-json for links)')
        if (!key.isWellFormed()) fail(childPath, 'a key with an unpaired surrogate')
        if (child === undefined) continue // as JSON.stringify does for object members
        defineOwn(out, key, visit(child, childPath, depth + 1))
      }
      return out
    } finally {
      ancestors.delete(obj)
    }
  }

  const node = visit(value, '', 0)
  return { node, blobs: [...blobs.values()] }
}

function describeClass(obj: object): string {
  const name = (obj as { constructor?: { name?: unknown } }).constructor?.name
  return typeof name === 'string' && name !== '' ? name : 'a non-plain object'
}

/** Encodes a node already produced by {@link toStoredNode}. */
export function encodeNode(node: unknown): Uint8Array {
  return dagJson.encode(node)
}

/** Decodes a dag-json node, accepting only its canonical form; callers wrap errors as CORRUPT_OBJECT. */
export function decodeNode(bytes: Uint8Array): unknown {
  return dagJson.decode(bytes)
}

/** Every raw-codec link inside a decoded node (the blobs an output refers to). */
export function blobLinks(node: unknown): CID[] {
  return allLinks(node).filter((cid) => cid.code === RAW_CODE)
}

/** Every link inside a decoded node, in document order. */
export function allLinks(node: unknown): CID[] {
  const found: CID[] = []
  walkLinks(node, (cid) => found.push(cid))
  return found
}

function walkLinks(node: unknown, onLink: (cid: CID) => void): void {
  if (node === null || typeof node !== 'object') return
  const cid = CID.asCID(node)
  if (cid) return onLink(cid)
  if (Array.isArray(node)) for (const item of node) walkLinks(item, onLink)
  else for (const key of Object.keys(node)) walkLinks((node as Record<string, unknown>)[key], onLink)
}

/** Replaces every raw-codec link in a decoded node with the blob bytes `load` returns. */
export async function restoreBytes(node: unknown, load: (cid: CID) => Promise<Uint8Array>): Promise<OutputValue> {
  const cid = node !== null && typeof node === 'object' ? CID.asCID(node) : null
  if (cid) return cid.code === RAW_CODE ? load(cid) : (cid.toString() as OutputValue)
  if (node === null || typeof node !== 'object') return node as OutputValue
  if (Array.isArray(node)) return Promise.all(node.map((item) => restoreBytes(item, load)))
  const out: Record<string, OutputValue> = {}
  for (const key of Object.keys(node)) {
    const value = await restoreBytes((node as Record<string, unknown>)[key], load)
    defineOwn(out, key, value)
  }
  return out
}

/** A deep copy of a JSON value (as stored in `meta` and `config`, which hold no links or bytes). */
export function copyJson<T extends JsonValue | undefined>(value: T): T {
  if (value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) return value.map((item) => copyJson(item)) as T
  const out: Record<string, JsonValue> = {}
  for (const key of Object.keys(value)) defineOwn(out, key, copyJson(value[key] as JsonValue))
  return out as T
}

/**
 * Sets an own, enumerable property. Plain assignment would treat a key named `__proto__` as the
 * prototype setter; user data may contain that key.
 */
export function defineOwn<T>(target: Record<string, T>, key: string, value: T): void {
  // Only "__proto__" needs defineProperty; it is several times slower than assignment for the rest.
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  else target[key] = value
}

/** A decoded node with every link in its dag-json form `{ "/": id }`, for showing to people and JSON tools. */
export function linksToJson(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value
  const cid = CID.asCID(value)
  if (cid) return { '/': cid.toString() }
  if (Array.isArray(value)) return value.map(linksToJson)
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value)) defineOwn(out, key, linksToJson((value as Record<string, unknown>)[key]))
  return out
}

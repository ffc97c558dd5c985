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
  const { node, walk } = storedForm(value, purpose, label)
  return { node, blobs: walk.blobs() }
}

/**
 * {@link toStoredNode} then {@link encodeNode}: the same checks, errors and bytes, faster. Most
 * values are written by the engine's JSON.stringify, which writes exactly what the dag-json
 * encoder would for a copy that holds no links and lists every map's keys in the encoder's order.
 */
export function encodeStoredNode(value: unknown, purpose: Purpose = 'output', label?: string): { bytes: Uint8Array; blobs: Blob[] } {
  const { node, walk } = storedForm(value, purpose, label)
  // The copy holds only plain data (no getters, no toJSON, no -0, no BigInt): JSON.stringify
  // writes numbers and strings as the encoder does, and keys in the copy's own order.
  const bytes = walk.plain ? utf8.encode(JSON.stringify(node)) : dagJson.encode(node)
  return { bytes, blobs: walk.blobs() }
}

function storedForm(value: unknown, purpose: Purpose, label: string | undefined): { node: unknown; walk: StoredValueWalk } {
  const walk = new StoredValueWalk(purpose, label)
  const visit = (v: unknown, depth: number): unknown => {
    const leaf = walk.leaf(v, depth)
    if (leaf !== NOT_A_LEAF) return leaf
    const obj = v as object
    if (obj instanceof Uint8Array) return walk.blob(obj)
    walk.enter(obj)
    if (Array.isArray(obj)) {
      const items = new Array<unknown>(obj.length)
      for (let i = 0; i < obj.length; i++) {
        walk.path.push(i)
        items[i] = visit(obj[i], depth + 1)
        walk.path.pop()
      }
      walk.leave()
      return items
    }
    const out: Record<string, unknown> = {}
    // The copy gets its keys in the encoder's order, which it then enumerates them in unless a
    // key looks like an array index: those an object lists first, in numeric order.
    for (const key of dagJson.sortedKeys(obj)) {
      walk.checkKey(key)
      const child = (obj as Record<string, unknown>)[key]
      if (child === undefined) continue // as JSON.stringify does for object members
      const first = key.charCodeAt(0)
      if (first >= 48 && first <= 57) walk.plain = false
      walk.path.push(key)
      defineOwn(out, key, visit(child, depth + 1))
      walk.path.pop()
    }
    walk.leave()
    return out
  }
  const node = visit(value, 0)
  return { node, walk }
}

const utf8 = new TextEncoder()

/** What {@link StoredValueWalk.leaf} returns for a value that is an object: the caller walks into it. */
const NOT_A_LEAF = Symbol('not a leaf')

/** The checks a value passes on its way into the store, shared by every way of storing it. */
class StoredValueWalk {
  /**
   * The keys and indexes down to the value being checked, pushed and popped by the walker; made
   * into a JSON pointer only for an error. A failure leaves it as it was where it failed.
   */
  readonly path: Array<string | number> = []
  /** Whether the stored form so far holds no links and lists every map's keys in the encoder's order. */
  plain = true
  /** The objects the walk is inside: meeting one again is a cycle. */
  readonly #ancestors: object[] = []
  readonly #blobs = new Map<string, Blob>()

  constructor(
    private readonly purpose: Purpose,
    private readonly label: string | undefined,
  ) {}

  /** A scalar as stored (-0 as 0, a BigInt as a number); NOT_A_LEAF for an object, which the caller walks. */
  leaf(v: unknown, depth: number): unknown {
    if (depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH} levels`)
    switch (typeof v) {
      case 'string':
        if (!v.isWellFormed()) this.fail('a string with an unpaired surrogate')
        return v
      case 'boolean':
        return v
      case 'number':
        if (Number.isNaN(v)) this.fail('NaN')
        if (!Number.isFinite(v)) this.fail(String(v))
        if (Number.isInteger(v) && !Number.isSafeInteger(v)) this.fail(`the integer ${v} (beyond ±2^53-1)`)
        return Object.is(v, -0) ? 0 : v
      case 'bigint':
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) this.fail(`the BigInt ${v} (beyond ±2^53-1)`)
        return Number(v)
      case 'undefined':
        return this.fail('undefined')
      case 'function':
        return this.fail('a function')
      case 'symbol':
        return this.fail('a symbol')
    }
    return v === null ? null : NOT_A_LEAF
  }

  /** The link a byte array becomes, its blob kept to be stored beside the node. */
  blob(bytes: Uint8Array): CID {
    if (this.purpose !== 'output') this.fail('bytes')
    if (Object.getPrototypeOf(bytes) !== Uint8Array.prototype && !Buffer.isBuffer(bytes)) this.fail('a Uint8Array subclass')
    const cid = cidOf(RAW_CODE, bytes)
    this.plain = false
    this.#blobs.set(cid.toString(), { cid, bytes })
    return cid
  }

  /** Starts on an array or a plain object; anything else is refused. */
  enter(obj: object): void {
    if (this.#ancestors.includes(obj)) this.fail('a cycle')
    if (!Array.isArray(obj)) {
      const proto: unknown = Object.getPrototypeOf(obj)
      if (proto !== Object.prototype && proto !== null) this.fail(`an instance of ${describeClass(obj)}`)
    }
    this.#ancestors.push(obj)
  }

  leave(): void {
    this.#ancestors.pop()
  }

  checkKey(key: string): void {
    if (key === '/') this.#failAt(key, 'the key "/" (reserved by dag-json for links)')
    if (!key.isWellFormed()) this.#failAt(key, 'a key with an unpaired surrogate')
  }

  blobs(): Blob[] {
    return [...this.#blobs.values()]
  }

  #failAt(step: string, what: string): never {
    this.path.push(step)
    return this.fail(what)
  }

  fail(what: string): never {
    const path = this.path.map((step) => `/${String(step).replaceAll('~', '~0').replaceAll('/', '~1')}`).join('')
    const code = this.purpose === 'output' ? 'INVALID_OUTPUT' : 'INVALID_ARGUMENT'
    const where = path === '' ? 'at the root' : `at ${shortened(path)}`
    throw new CkptError(code, `${this.label ?? this.purpose}: ${what} ${where} cannot be stored (dag-json holds only JSON data and bytes)`, {
      details: { path },
    })
  }
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

/**
 * A fast dag-json codec, byte-for-byte compatible with `@ipld/dag-json` v11 for the values ckpt
 * stores, built on the engine's JSON.stringify / JSON.parse instead of a JS tokenizer.
 *
 * Encoding rules of `@ipld/dag-json` (cborg's JSON encoder) reproduced here:
 * - map keys are sorted by JS string comparison, i.e. UTF-16 code units (not UTF-8 bytes);
 * - strings and keys are written by JSON.stringify (cborg itself uses it);
 * - safe integers are written by String(n) (so -0 becomes "0"); every other finite number is
 *   written by String(n) with ".0" appended unless it already has a "." or an exponent
 *   (2^53 → "9007199254740992.0", 1e21 → "1e+21");
 * - CIDs become {"/":"<string form>"}, bytes {"/":{"bytes":"<base64, no padding>"}}.
 *
 * Decoding accepts only the canonical form: the parsed JSON is re-encoded and must reproduce the
 * input exactly, and link and bytes strings must be the ones their values encode to. That
 * rejects whitespace, unsorted or duplicate keys, trailing commas, alternative escapes and number
 * spellings, padded base64, CIDv1 strings in bases other than base32, unpaired surrogates and
 * invalid UTF-8; `@ipld/dag-json` accepts all of those (invalid UTF-8 as U+FFFD).
 */
import { base64 } from 'multiformats/bases/base64'
import { CID } from 'multiformats/cid'
import { parseCanonicalStoreCid } from './cid-text.js'
import { BoundedMap } from '../bounded-map.js'

const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

export function encode(node: unknown): Uint8Array {
  return utf8Encoder.encode(write(node))
}

export function decode(bytes: Uint8Array): unknown {
  const text = utf8Decoder.decode(bytes)
  const parsed: unknown = JSON.parse(text)
  // Checked before links are revived: a link or bytes object is written the same way as the
  // plain map it was parsed from, provided its string is canonical (revive checks that).
  if (!stringifiesAs(parsed, text) && !writesAs(parsed, text)) throw new Error('dag-json: input is not in canonical form')
  return revive(parsed)
}

/** An escaped UTF-16 surrogate: the encoder writes none (it refuses lone ones, and writes pairs as the characters). */
const ESCAPED_SURROGATE = /\\u[dD][89a-fA-F]/

/**
 * A quicker proof of what {@link writesAs} proves, for most canonical input: when the engine's
 * JSON.stringify of the parsed value gives back the text, the text is exactly the encoder's
 * output unless a map's keys are out of the encoder's order, an integer is beyond 2^53 (the
 * encoder writes those with ".0") or a string holds an escaped surrogate (the encoder refuses a
 * lone one). Those three are ruled out here; input that fails is judged by writesAs.
 */
function stringifiesAs(parsed: unknown, text: string): boolean {
  return !ESCAPED_SURROGATE.test(text) && JSON.stringify(parsed) === text && inEncoderOrder(parsed)
}

/** Whether every map's keys are in the encoder's order and every integer is within ±2^53. */
function inEncoderOrder(value: unknown): boolean {
  if (typeof value === 'number') return Number.isSafeInteger(value) || !Number.isInteger(value)
  if (typeof value !== 'object' || value === null) return true
  if (Array.isArray(value)) {
    for (const item of value) if (!inEncoderOrder(item)) return false
    return true
  }
  const keys = Object.keys(value)
  for (let i = 0; i < keys.length; i++) {
    if (i > 0 && (keys[i - 1] as string) >= (keys[i] as string)) return false
    if (!inEncoderOrder((value as Record<string, unknown>)[keys[i] as string])) return false
  }
  return true
}

/**
 * Whether `write(node)` would be exactly `text`, compared piece by piece as it would be written,
 * so that checking a large node does not build a second copy of its text.
 */
function writesAs(node: unknown, text: string): boolean {
  let at = 0
  const take = (piece: string): boolean => {
    if (!text.startsWith(piece, at)) return false
    at += piece.length
    return true
  }
  const matches = (value: unknown): boolean => {
    if (typeof value !== 'object' || value === null) return take(write(value))
    if (Array.isArray(value)) {
      if (!take('[')) return false
      for (let i = 0; i < value.length; i++) if ((i > 0 && !take(',')) || !matches(value[i])) return false
      return take(']')
    }
    const obj = value as Record<string, unknown>
    const keys = sortedKeys(obj)
    if (!take('{')) return false
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string
      if ((i > 0 && !take(',')) || !take(quote(key)) || !take(':') || !matches(obj[key])) return false
    }
    return take('}')
  }
  return matches(node) && at === text.length
}

const LINK = /\{"\/":"([^"\\]+)"\}/g

/**
 * The links in canonical dag-json bytes, found without parsing: in canonical form a link is
 * exactly `{"/":"<CID>"}`, and that text cannot occur inside a string, whose quotes would be
 * escaped. For walks that need only the links (gc's mark), several times faster than decode.
 */
export function linksIn(bytes: Uint8Array): CID[] {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
  const links: CID[] = []
  for (const match of text.matchAll(LINK)) {
    try {
      links.push(parseLink(match[1]!))
    } catch {
      // Not a CID: canonical bytes never hold one, and decode would refuse them.
    }
  }
  return links
}

function write(node: unknown): string {
  switch (typeof node) {
    case 'string':
      return quote(node)
    case 'number':
      return writeNumber(node)
    case 'boolean':
      return node ? 'true' : 'false'
    case 'object':
      break
    default:
      throw new Error(`dag-json: cannot encode ${typeof node}`)
  }
  if (node === null) return 'null'
  if (Array.isArray(node)) {
    let out = '['
    for (let i = 0; i < node.length; i++) out += (i === 0 ? '' : ',') + write(node[i])
    return out + ']'
  }
  const proto: unknown = Object.getPrototypeOf(node)
  if (proto === Object.prototype || proto === null) return writeMap(node as Record<string, unknown>)
  if (node instanceof CID) return `{"/":${quote(node.toString())}}`
  if (node instanceof Uint8Array) return writeBytes(node)
  const cid = CID.asCID(node)
  if (cid) return `{"/":${quote(cid.toString())}}`
  // @ipld/dag-json encodes other typed arrays, DataView and ArrayBuffer as their raw bytes.
  if (ArrayBuffer.isView(node)) return writeBytes(new Uint8Array(node.buffer, node.byteOffset, node.byteLength))
  if (node instanceof ArrayBuffer) return writeBytes(new Uint8Array(node))
  throw new Error(`dag-json: cannot encode an instance of ${node.constructor?.name ?? 'a class'}`)
}

function writeNumber(n: number): string {
  if (Number.isSafeInteger(n)) return String(n)
  if (!Number.isFinite(n)) throw new Error(`dag-json: cannot encode ${n}`)
  const s = String(n)
  return s.includes('.') || s.includes('e') ? s : `${s}.0`
}

function writeMap(obj: Record<string, unknown>): string {
  const keys = sortedKeys(obj)
  let out = '{'
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string
    out += `${i === 0 ? '' : ','}${quote(key)}:${write(obj[key])}`
  }
  return out + '}'
}

/**
 * An object's keys in the order the encoder writes them: UTF-16 code unit order (JS string
 * comparison), which is what cborg's comparison amounts to. Insertion sort for small maps:
 * several times faster than Array#sort there, and linear on keys already in order, as a decoded
 * map's usually are.
 */
export function sortedKeys(obj: object): string[] {
  const keys = Object.keys(obj)
  if (keys.length > 32) return keys.sort()
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i] as string
    let j = i - 1
    for (; j >= 0 && (keys[j] as string) > key; j--) keys[j + 1] = keys[j] as string
    keys[j + 1] = key
  }
  return keys
}

function writeBytes(bytes: Uint8Array): string {
  return `{"/":{"bytes":"${base64.baseEncode(bytes)}"}}`
}

const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/

/** JSON.stringify(s), as cborg writes strings, without the call when nothing needs escaping. */
function quote(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return `"${s}"`
  // dag-json would write a lone surrogate as \udXXX; ckpt never stores one, so refuse it.
  if (!s.isWellFormed()) throw new Error('dag-json: string with an unpaired surrogate')
  return JSON.stringify(s)
}


/** Turns link and bytes forms in JSON.parse output into CIDs and Uint8Arrays, in place. */
function revive(node: unknown): unknown {
  if (typeof node !== 'object' || node === null) return node
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) node[i] = revive(node[i])
    return node
  }
  const obj = node as Record<string, unknown>
  const keys = Object.keys(obj)
  if (Object.hasOwn(obj, '/')) return reviveSlash(obj, keys)
  for (const key of keys) {
    const child = obj[key]
    if (typeof child !== 'object' || child === null) continue
    const revived = revive(child)
    // Plain assignment is safe even for a "__proto__" key: JSON.parse made it an own data
    // property, and assignment finds that before the prototype's setter.
    if (revived !== child) obj[key] = revived
  }
  return obj
}

function reviveSlash(obj: Record<string, unknown>, keys: string[]): unknown {
  const value = obj['/']
  if (keys.length === 1) {
    if (typeof value === 'string') return parseLink(value)
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const inner = value as Record<string, unknown>
      const innerKeys = Object.keys(inner)
      if (innerKeys.length === 1 && innerKeys[0] === 'bytes' && typeof inner.bytes === 'string') {
        const bytes = base64.baseDecode(inner.bytes)
        if (base64.baseEncode(bytes) !== inner.bytes) throw new Error('dag-json: bytes not in canonical base64')
        return bytes
      }
    }
  }
  // ckpt never writes a "/" key but in these two forms (docs/format.md), so it refuses to read one.
  throw new Error('dag-json: a "/" key outside a link or bytes form')
}

/**
 * Recently parsed links. Parsing is most of the cost of decoding a checkpoint (one link per stage),
 * and consecutive checkpoints share most of theirs. CIDs are immutable values, so sharing one
 * instance between decoded nodes is safe; ckpt never mutates a CID's bytes.
 */
const recentLinks = new BoundedMap<string, CID>(16_384)

function parseLink(text: string): CID {
  const known = recentLinks.get(text)
  if (known) return known
  const cid = parseNewLink(text)
  recentLinks.set(text, cid)
  return cid
}

function parseNewLink(text: string): CID {
  // Every link ckpt writes is in the one form read fast here; other text goes through CID.parse.
  const canonical = parseCanonicalStoreCid(text)
  if (canonical) return canonical
  // CID.parse, as @ipld/dag-json uses, keeps `text` as the CID's string form, so toString() is
  // then free and returns `text`, even mixed-case or padded base32 (accepted as dag-json does).
  // Other bases come back as base32 from toString(), which the encoder would write instead.
  const cid = CID.parse(text)
  if (cid.toString() !== text) throw new Error('dag-json: link not in the string form its CID encodes to')
  return cid
}

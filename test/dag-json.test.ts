import { describe, it, expect } from 'vitest'
import * as dagJson from '@ipld/dag-json'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { base58btc } from 'multiformats/bases/base58'
import { decode, encode, linksIn } from '../src/model/dag-json.js'
import { allLinks } from '../src/model/value.js'
import { blake3 as referenceBlake3 } from 'hash-wasm'
import { outputIdOf, isCkptError } from '../src/index.js'
import { prng } from './support/random.js'

class Gen {
  readonly random: () => number
  constructor(seed: number) {
    this.random = prng(seed)
  }
  int(n: number): number {
    return Math.floor(this.random() * n)
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T
  }
  bytes(n: number): Uint8Array {
    return Uint8Array.from({ length: n }, () => this.int(256))
  }
}

const ALPHABET = [
  'a', 'b', 'z', 'A', '0', '9', ' ', '"', '\\', '/', "'", '\u0000', '\u0001', '\b', '\t', '\n', '\f', '\r',
  '\u001f', '\u007f', '\u0080', '\u00e9', '\u2028', '\u2029', '\u4e2d', '\ud7ff', '\ue000', '\ufeff', '\uffff',
  '\u{10000}', '\u{1f600}', '\u{10ffff}', '\\u', '\\ud800',
]
const TRICKY_STRINGS = ['', '"', '\\', '\\\\"', '__proto__', 'bytes', 'asCID', 'constructor', 'toString', '10', '9', '-1', '1e3', '\uffff', '\u{10000}', 'é', 'e\u0301']
const NUMBERS = [
  0, 1, -1, 7, -42, 1700000000000, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 2 ** 53, -(2 ** 53), 2 ** 64, 1e21,
  -1e21, 1.5, -1.5, 0.1, 0.5, 1 / 3, 1e-7, 1.5e-7, 1e-6, 123456.789, 5e-324, -5e-324, 2.2250738585072014e-308,
  1.7976931348623157e308, -1.7976931348623157e308, 1e300, 123e20, 0.000001,
]

function randomString(g: Gen): string {
  switch (g.int(6)) {
    case 0:
      return g.pick(TRICKY_STRINGS)
    case 1:
      return 'x'.repeat(g.int(3000))
    default: {
      let s = ''
      const n = g.int(12)
      for (let i = 0; i < n; i++) s += g.pick(ALPHABET)
      return s
    }
  }
}

function randomKey(g: Gen): string {
  const key = randomString(g)
  return key === '/' ? '//' : key
}

function randomNumber(g: Gen): number {
  switch (g.int(4)) {
    case 0:
      return g.pick(NUMBERS)
    case 1:
      return g.int(2 ** 31) - 2 ** 30
    case 2:
      return (g.random() - 0.5) * 10 ** (g.int(40) - 20)
    default: {
      // an arbitrary bit pattern: subnormals, huge magnitudes, everything in between
      const n = new DataView(g.bytes(8).buffer).getFloat64(0)
      return Number.isFinite(n) && !Object.is(n, -0) ? n : 0
    }
  }
}

function randomCid(g: Gen): CID {
  return CID.createV1(g.pick([0x55, 0x0129]), Digest.create(0x1e, g.bytes(32)))
}

function randomValue(g: Gen, depth: number): unknown {
  const leafOnly = depth >= 6
  switch (g.int(leafOnly ? 7 : 9)) {
    case 0:
      return null
    case 1:
      return g.random() < 0.5
    case 2:
      return randomNumber(g)
    case 3:
    case 4:
      return randomString(g)
    case 5:
      return randomCid(g)
    case 6:
      return g.bytes(g.int(40))
    case 7:
      return Array.from({ length: g.int(6) }, () => randomValue(g, depth + 1))
    default:
      return randomObject(g, () => randomValue(g, depth + 1))
  }
}

/** A map of up to 6 random keys, each value from `value`. */
function randomObject(g: Gen, value: () => unknown): Record<string, unknown> {
  const obj: Record<string, unknown> = {}
  const n = g.int(7)
  for (let i = 0; i < n; i++) {
    const key = randomKey(g)
    setOwn(obj, key, value())
  }
  return obj
}

/** defineProperty, so that a "__proto__" key is an own property, as JSON.parse makes it. */
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true })
}

/** A structural form for comparison: links and bytes spelled out, key order and prototypes checked. */
function norm(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v
  const cid = CID.asCID(v)
  if (cid) return ['cid', cid.toString()]
  if (v instanceof Uint8Array) return ['bytes', Object.getPrototypeOf(v) === Uint8Array.prototype, [...v]]
  if (Array.isArray(v)) return ['array', v.map(norm)]
  return [
    'object',
    Object.getPrototypeOf(v) === Object.prototype,
    Object.keys(v).map((k) => [k, norm((v as Record<string, unknown>)[k])]),
  ]
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const text = (b: Uint8Array): string => new TextDecoder().decode(b)

/** Byte equality; @ipld/dag-json sometimes returns a Buffer, which toEqual tells apart from a Uint8Array. */
function expectSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  if (Buffer.compare(actual, expected) !== 0) expect(text(actual)).toBe(text(expected))
  expect(Buffer.compare(actual, expected)).toBe(0)
}

function ipldAccepts(bytes: Uint8Array): boolean {
  try {
    dagJson.decode(bytes)
    return true
  } catch {
    return false
  }
}

describe('dag-json codec: agreement with @ipld/dag-json', () => {
  it('encodes and decodes random values exactly as @ipld/dag-json does', () => {
    const g = new Gen(20240601)
    for (let i = 0; i < 4000; i++) {
      const value = randomValue(g, 0)
      const expected = dagJson.encode(value)
      const actual = encode(value)
      expectSameBytes(actual, expected)
      expect(Object.getPrototypeOf(actual)).toBe(Uint8Array.prototype)
      expect(norm(decode(actual))).toStrictEqual(norm(dagJson.decode(expected)))
    }
  })

  it('finds exactly the links decode finds, without decoding', () => {
    const g = new Gen(20261122)
    let withLinks = 0
    for (let i = 0; i < 4000; i++) {
      const bytes = encode(randomValue(g, 0))
      // Sorted: a decoded object lists integer-like keys first, whatever their order in the bytes.
      const expected = allLinks(decode(bytes)).map(String).sort()
      if (expected.length > 0) withLinks++
      expect(linksIn(bytes).map(String).sort()).toEqual(expected)
    }
    expect(withLinks).toBeGreaterThan(100)
  })

  it('orders keys by UTF-16 code units, as @ipld/dag-json does', () => {
    const value = { '\uffff': 1, '\u{10000}': 2, b: 3, a: 4, aa: 5, '': 6, '10': 7, '9': 8, B: 9 }
    expect(text(encode(value))).toBe('{"":6,"10":7,"9":8,"B":9,"a":4,"aa":5,"b":3,"\u{10000}":2,"\uffff":1}')
    expectSameBytes(encode(value), dagJson.encode(value))
  })

  it('formats numbers as @ipld/dag-json does', () => {
    const cases: [number, string][] = [
      [2, '2'], [-0, '0'], [1.5, '1.5'], [0.1, '0.1'], [1e-7, '1e-7'], [5e-324, '5e-324'], [1e21, '1e+21'],
      [2 ** 53, '9007199254740992.0'], [-(2 ** 53), '-9007199254740992.0'], [1.7976931348623157e308, '1.7976931348623157e+308'],
    ]
    for (const [n, s] of cases) {
      expect(text(encode(n))).toBe(s)
      expect(text(dagJson.encode(n))).toBe(s)
      expect(decode(utf8(s))).toBe(Object.is(n, -0) ? 0 : n)
    }
  })

  it('escapes strings as JSON.stringify does, leaving non-ASCII raw', () => {
    const s = '\u0000\u001f\u007f\u2028"\\/\b\f\n\r\t é 😀'
    expect(text(encode(s))).toBe(JSON.stringify(s))
    expectSameBytes(encode(s), dagJson.encode(s))
    expect(decode(encode(s))).toBe(s)
  })

  it('round-trips strings longer than 64K characters', () => {
    const s = 'a'.repeat(70_000) + 'é' + '\n'.repeat(70_000)
    expectSameBytes(encode([s]), dagJson.encode([s]))
    expect(decode(encode([s]))).toEqual([s])
  })

  it('round-trips nesting as deep as ckpt allows (1000 levels)', () => {
    let value: unknown = 'leaf'
    for (let i = 0; i < 1001; i++) value = i % 2 === 0 ? { a: value } : [value]
    expectSameBytes(encode(value), dagJson.encode(value))
    expect(decode(encode(value))).toStrictEqual(value)
  })

  it('keeps "__proto__" an own key and never changes a prototype', () => {
    const value = JSON.parse('{"__proto__":{"x":1},"a":[{"__proto__":null}]}') as unknown
    const bytes = encode(value)
    expectSameBytes(bytes, dagJson.encode(value))
    const decoded = decode(bytes) as Record<string, unknown>
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype)
    expect(Object.keys(decoded)).toEqual(['__proto__', 'a'])
    expect(norm(decoded)).toStrictEqual(norm(dagJson.decode(bytes)))

    const cid = randomCid(new Gen(1))
    const withLink = decode(utf8(`{"__proto__":{"/":"${cid.toString()}"}}`)) as Record<string, unknown>
    expect(Object.getPrototypeOf(withLink)).toBe(Object.prototype)
    expect(CID.asCID(withLink['__proto__'])?.equals(cid)).toBe(true)
  })

  it('encodes null-prototype objects as maps', () => {
    const value = Object.assign(Object.create(null) as object, { b: 1, a: 2 })
    expectSameBytes(encode(value), dagJson.encode(value))
  })

  it('decodes links to CID instances and bytes to plain Uint8Arrays', () => {
    const cid = randomCid(new Gen(2))
    const decoded = decode(encode({ link: cid, data: new Uint8Array([1, 2, 3]) })) as { link: unknown; data: unknown }
    expect(decoded.link).toBeInstanceOf(CID)
    expect((decoded.link as CID).equals(cid)).toBe(true)
    expect(Object.getPrototypeOf(decoded.data)).toBe(Uint8Array.prototype)
    expect(decoded.data).toEqual(new Uint8Array([1, 2, 3]))
  })

  it('round-trips CIDv0 links', () => {
    const v0 = CID.createV0(Digest.create(0x12, new Gen(3).bytes(32)))
    const bytes = encode([v0])
    expectSameBytes(bytes, dagJson.encode([v0]))
    expect((decode(bytes) as CID[])[0]?.equals(v0)).toBe(true)
  })

  it('writes a CID parsed from non-canonical text as @ipld/dag-json does, and reads it back', () => {
    // CID.parse accepts mixed case and keeps the text as the CID's string form; both codecs use it.
    const canonical = randomCid(new Gen(4)).toString()
    const mixed = CID.parse(`b${canonical.slice(1, 9).toUpperCase()}${canonical.slice(9)}`)
    const bytes = encode({ a: mixed })
    expectSameBytes(bytes, dagJson.encode({ a: mixed }))
    expect(norm(decode(bytes))).toStrictEqual(norm(dagJson.decode(bytes)))
  })

  it('encodes other typed arrays, DataView and ArrayBuffer as bytes', () => {
    const ab = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]).buffer
    for (const v of [new Uint16Array(ab), new Float64Array(ab), new DataView(ab, 2, 3), ab, Buffer.from([9, 8, 7])]) {
      expectSameBytes(encode([v]), dagJson.encode([v]))
    }
  })

  it('rejects what @ipld/dag-json cannot encode', () => {
    const bad: unknown[] = [undefined, { a: undefined }, [undefined], NaN, Infinity, -Infinity, [1, , 2], () => 1, Symbol('s'), new Date(0), new Set()]
    for (const v of bad) {
      expect(() => dagJson.encode(v)).toThrow()
      expect(() => encode(v)).toThrow()
    }
  })

  it('rejects a few values outside the stored domain that @ipld/dag-json would encode', () => {
    // bigint (which dag-json would decode back as a number or bigint), lone surrogates, Maps, class instances
    for (const v of [10n, '\ud800', { '\udc00': 1 }, new Map([['a', 1]]), new (class Point { x = 1 })()]) {
      expect(() => encode(v)).toThrow()
    }
  })
})

describe('dag-json codec: strict decoding', () => {
  const cid = randomCid(new Gen(5)).toString()

  it('rejects what @ipld/dag-json rejects', () => {
    const inputs = [
      '', ' ', '{', '}', '[1,]', '{,}', '{"a":1,,}', '{"a" 1}', 'nul', 'tru', 'NaN', 'Infinity', '-Infinity', '+1', '01', '1 2',
      '.5', '-', '"abc', '"\\x"', '"\\u12"', '"a\u0001"', '{"a":1,"a":2}', '{"a":1,"a":1}', '{} x', '{}{}', '[1]]',
      '{"/":"not-a-cid"}', `{"/":"${cid}","a":1}`, `{"/":"${cid}","/":"${cid}"}`, '{"/":{"bytes":"AQID","x":1}}',
      '{"/":{"bytes":"AQID"},"a":1}', '{"/":{"bytes":"A"}}', '{"/":{"bytes":"AQ!D"}}', 'undefined', '{a:1}', "'a'",
    ]
    for (const input of inputs) {
      const bytes = utf8(input)
      expect(ipldAccepts(bytes), input).toBe(false)
      expect(() => decode(bytes), input).toThrow()
    }
    for (const raw of [[0x22, 0xff, 0x22], [0xff], [0x5b, 0x80, 0x5d]]) {
      const bytes = Uint8Array.from(raw)
      expect(ipldAccepts(bytes)).toBe(false)
      expect(() => decode(bytes)).toThrow()
    }
  })

  it('also rejects non-canonical input that @ipld/dag-json accepts', () => {
    const inputs = [
      ' {}', '{} ', '{ }', '{"a":1,}', '[1, 2]', '{"a": 1}', '\n[]', '{"b":1,"a":2}', '{"\uffff":1,"\u{10000}":2}', '"\\u0061"', '"\\/"',
      '"\\\'"', '"\\u00e9"', '"\\u001F"', '1.0', '1e2', '1E2', '1.', '1e', '-0', '-0.0', '0.10', '1e400', '9007199254740993', '9007199254740992', '[-18014398509481984]', '{"9":1,"10":2}', '"\\ud83d\\ude00"',
      '"\\ud800"', '["\\udc00"]', '{"\\ud800":1}', '{"/":{"bytes":"AQIDBA=="}}', `{"/":"${CID.parse(cid).toString(base58btc)}"}`,
      `{"/":{"/":"${CID.parse(cid).toString(base58btc)}"}}`, '{"/":{"/":{"bytes":"AQIDBA=="}}}',
    ]
    for (const input of inputs) {
      const bytes = utf8(input)
      expect(ipldAccepts(bytes), input).toBe(true)
      expect(() => decode(bytes), input).toThrow()
    }
    // invalid UTF-8 inside a string (dag-json substitutes U+FFFD) and a byte order mark
    for (const raw of [[0x22, 0xed, 0xa0, 0x80, 0x22], [0x22, 0xc0, 0xaf, 0x22], [0x22, 0xf8, 0x88, 0x80, 0x80, 0x80, 0x22]]) {
      const bytes = Uint8Array.from(raw)
      expect(ipldAccepts(bytes)).toBe(true)
      expect(() => decode(bytes)).toThrow()
    }
    expect(() => decode(Uint8Array.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d]))).toThrow()
  })

  it('accepts an escaped backslash followed by "ud800"', () => {
    expect(decode(utf8('"\\\\ud800"'))).toBe('\\ud800')
  })

  it('refuses "/" keys outside the link and bytes forms, which ckpt never writes', () => {
    const inputs = ['{"/":1}', '{"/":null}', '{"/":[]}', '{"":1,"/":"x"}', '{"/":{"a":1,"bytes":"AQID"}}', `{"/":{"/":"${cid}"}}`, '{"/":{"bytes":1}}']
    for (const input of inputs) {
      expect(ipldAccepts(utf8(input)), input).toBe(true)
      expect(() => decode(utf8(input)), input).toThrow(/"\/" key outside a link or bytes form/)
    }
  })

  it('never accepts a mutation of a valid encoding that @ipld/dag-json rejects or reads differently', () => {
    const g = new Gen(777)
    const insertable = [...' \t\n",:{}[]\\/0123456789.eE+-tfnuab'].map((c) => c.charCodeAt(0)).concat([0x00, 0x7f, 0x80, 0xbf, 0xc3, 0xe2, 0xed, 0xf0, 0xff])
    let accepted = 0
    for (let i = 0; i < 2500; i++) {
      const original = encode(randomValue(g, 3))
      const bytes = Array.from(original)
      const pos = g.int(bytes.length + 1)
      switch (g.int(6)) {
        case 0:
          bytes[pos] = g.int(256)
          break
        case 1:
          bytes.splice(pos, 0, g.pick(insertable))
          break
        case 2:
          bytes.splice(pos, 1)
          break
        case 3:
          bytes.splice(pos, 0, ...bytes.slice(pos, pos + 1 + g.int(12)))
          break
        case 4:
          if (pos + 1 < bytes.length) bytes.splice(pos, 2, bytes[pos + 1] as number, bytes[pos] as number)
          break
        default:
          bytes.length = pos
      }
      const mutated = Uint8Array.from(bytes)
      let mine: unknown
      try {
        mine = decode(mutated)
      } catch {
        continue
      }
      accepted++
      let theirs: unknown
      expect(() => (theirs = dagJson.decode(mutated)), text(mutated)).not.toThrow()
      expect(norm(mine), text(mutated)).toStrictEqual(norm(theirs))
    }
    // some mutations (a changed digit or letter) stay valid; make sure the check ran on those
    expect(accepted).toBeGreaterThan(20)
  })
})

/** A stage output as a user hands it over: no links, but bytes, -0, BigInts, undefined members and keys of every kind. */
function randomOutput(g: Gen, depth: number): unknown {
  const leafOnly = depth >= 5
  switch (g.int(leafOnly ? 6 : 8)) {
    case 0:
      return g.pick([null, true, false, -0, 12n, -(2n ** 40n)])
    case 1: {
      const n = randomNumber(g)
      return Number.isInteger(n) && !Number.isSafeInteger(n) ? 1 / 3 : n
    }
    case 2:
    case 3:
      return randomString(g)
    case 4:
      return g.int(2) === 0 ? g.bytes(g.int(40)) : Buffer.from(g.bytes(g.int(10)))
    case 5:
      return g.pick(['detections', 'box', 'score', 'a\u0000b'])
    case 6:
      return Array.from({ length: g.int(6) }, () => randomOutput(g, depth + 1))
    default:
      return randomObject(g, () => (g.int(10) === 0 ? undefined : randomOutput(g, depth + 1)))
  }
}

/** What the stored form of an output is, built independently: bytes as raw links, JSON.stringify's member rules, -0 as 0, BigInt as a number. */
async function referenceStoredForm(value: unknown): Promise<unknown> {
  if (value instanceof Uint8Array) return CID.parse(outputIdOf(value))
  if (typeof value === 'bigint') return Number(value)
  if (Object.is(value, -0)) return 0
  if (value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) return Promise.all(value.map(referenceStoredForm))
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value)) {
    const child = (value as Record<string, unknown>)[key]
    if (child !== undefined) setOwn(out, key, await referenceStoredForm(child))
  }
  return out
}

async function referenceOutputId(value: unknown): Promise<string> {
  const bytes = dagJson.encode(await referenceStoredForm(value))
  const digest = Buffer.from(await referenceBlake3(bytes, 256), 'hex')
  return CID.createV1(0x0129, Digest.create(0x1e, digest)).toString()
}

describe('stage outputs: the ids commits give', () => {
  it('are the BLAKE3 of what @ipld/dag-json writes for each value, over random outputs', async () => {
    const g = new Gen(20261205)
    let withBytes = 0
    for (let i = 0; i < 3000; i++) {
      const value = randomOutput(g, 0)
      if (value instanceof Uint8Array) continue
      const id = outputIdOf(value)
      if (CID.parse(id).code === 0x0129 && /"\/":/.test(text(dagJson.encode(await referenceStoredForm(value))))) withBytes++
      expect(id).toBe(await referenceOutputId(value))
    }
    expect(withBytes).toBeGreaterThan(100)
  })

  it("do not depend on the order a value's keys were set in, nor on keys that look like numbers", async () => {
    const value = { score: 0.5, box: [1, 2], id: 3, '10': 'ten', '9': 'nine', label: 'cat' }
    const reordered = { '9': 'nine', label: 'cat', id: 3, box: [1, 2], '10': 'ten', score: 0.5 }
    expect(outputIdOf(value)).toBe(await referenceOutputId(value))
    expect(outputIdOf(reordered)).toBe(outputIdOf(value))
  })

  it('are refused for an array with a hole, naming its index', () => {
    // eslint-disable-next-line no-sparse-arrays
    const holey = { items: [1, , 3] }
    let error: unknown
    try {
      outputIdOf(holey)
    } catch (err) {
      error = err
    }
    expect(isCkptError(error, 'INVALID_OUTPUT')).toBe(true)
    expect((error as Error).message).toBe('value: undefined at /items/1 cannot be stored (dag-json holds only JSON data and bytes)')
  })
})

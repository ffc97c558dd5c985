import { I32, V128, instances, moduleBytes, signedLeb, unsignedLeb, vector } from './wasm-bytes.js'

/*
 * BLAKE3-256 for large inputs: four 1 KiB chunks at a time in WebAssembly SIMD, the tree of
 * chaining values above them four parent nodes at a time, and the few compressions left over (the
 * last chunk, the stack's merges, the root) in JavaScript. It is what the hashing worker threads
 * run for chunk ids and for a large blob's whole-content id: 1.15–1.21 GB/s streamed here, against
 * 0.58–0.90 for hash-wasm's streaming, and it transposes each block's words inside WebAssembly,
 * where blake3-jit does that in JavaScript (docs/hashing.md). hash.ts uses it for inputs from
 * 128 KiB and for every stream; below that size blake3-jit is faster.
 *
 * Everything here follows the BLAKE3 specification (Aumasson, Neves, O'Connor, Wilcox-O'Hearn,
 * 2020): the compression function, chunk and parent flags, and the chaining-value stack merged
 * lazily, so the last chunk is only ever compressed knowing it is the last. The module is written
 * out byte by byte (wasm-bytes.ts): the engine checks it as it compiles it, and the official test
 * vectors check its answers (test/blake3-simd.test.ts).
 */

const IV = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19] as const
const MESSAGE_PERMUTATION = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8] as const
const CHUNK_START = 1
const CHUNK_END = 2
const PARENT = 4
const ROOT = 8
const CHUNK_BYTES = 1024
const BLOCK_BYTES = 64

/** The message word order of each of the seven rounds. */
const SCHEDULE: readonly (readonly number[])[] = (() => {
  const rounds: number[][] = []
  let order = [...Array(16).keys()]
  for (let r = 0; r < 7; r++) {
    rounds.push(order)
    order = MESSAGE_PERMUTATION.map((p) => order[p]!)
  }
  return rounds
})()

// ---------------------------------------------------------------------------------------------
// The WebAssembly module.
//
//   chunks(in, out, groups, counterLow, counterHigh): for each group, the chaining values of the
//     four whole chunks at in + 4096·g (chunk counters counterLow + 4g + lane), written as four
//     32-byte values at out + 128·g.
//   parents(in, out, groups): for each group, the chaining values of the four parent nodes whose
//     64-byte blocks (left value, right value) are at in + 256·g, written at out + 128·g. `out`
//     may equal `in`: a group is read whole before it is written, behind everything read before.
//
// Each of the 16 state words is a v128 holding that word for four lanes; the message words are
// transposed into the same layout with shuffles and kept in scratch memory.
// ---------------------------------------------------------------------------------------------

/** Memory layout: input at 0 (a window of chunks), chaining values after it, then scratch. */
const WINDOW_CHUNKS = 64
const WINDOW_BYTES = WINDOW_CHUNKS * CHUNK_BYTES
const VALUES_AT = WINDOW_BYTES + CHUNK_BYTES
const SCRATCH_AT = VALUES_AT + WINDOW_CHUNKS * 32
const PAGES = Math.ceil((SCRATCH_AT + 16 * 16) / 65536)

const op = {
  get: (i: number) => [0x20, ...unsignedLeb(i)],
  set: (i: number) => [0x21, ...unsignedLeb(i)],
  tee: (i: number) => [0x22, ...unsignedLeb(i)],
  i32: (n: number) => [0x41, ...signedLeb(n | 0)],
  i32Add: [0x6a],
  i32Eq: [0x46],
  i32LtU: [0x49],
  i32Or: [0x72],
  select: [0x1b],
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  br: (depth: number) => [0x0c, ...unsignedLeb(depth)],
  brIf: (depth: number) => [0x0d, ...unsignedLeb(depth)],
  end: [0x0b],
  load: (offset: number) => [0xfd, 0x00, 4, ...unsignedLeb(offset)],
  store: (offset: number) => [0xfd, 0x0b, 4, ...unsignedLeb(offset)],
  constant: (words: readonly number[]) => [0xfd, 0x0c, ...words.flatMap((w) => [w & 255, (w >>> 8) & 255, (w >>> 16) & 255, (w >>> 24) & 255])],
  shuffle: (lanes: readonly number[]) => [0xfd, 0x0d, ...lanes],
  splat: [0xfd, 0x11],
  or: [0xfd, 0x50],
  xor: [0xfd, 0x51],
  shl: [0xfd, ...unsignedLeb(171)],
  shrU: [0xfd, ...unsignedLeb(173)],
  add: [0xfd, ...unsignedLeb(174)],
}

/** Byte lanes for i8x16.shuffle taking whole 32-bit words: 0–3 from the first operand, 4–7 from the second. */
const wordLanes = (words: readonly number[]) => words.flatMap((w) => [4 * w, 4 * w + 1, 4 * w + 2, 4 * w + 3])
const ROTATE_RIGHT_16 = [2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13]
const ROTATE_RIGHT_8 = [1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12]
const splat = (word: number) => op.constant([word, word, word, word])

/** A function's locals by name; parameters first. */
class Locals {
  readonly #index = new Map<string, number>()
  readonly #declared: number[] = []

  constructor(params: readonly string[]) {
    params.forEach((p, i) => this.#index.set(p, i))
  }

  /** The index of local `name`, declared (as `type`) on first use. */
  at(name: string, type = V128): number {
    let index = this.#index.get(name)
    if (index === undefined) {
      index = this.#index.size
      this.#index.set(name, index)
      this.#declared.push(type)
    }
    return index
  }

  /** The function's body: its locals, then `code` and its end. */
  entry(code: number[]): number[] {
    const groups: Array<[number, number]> = []
    for (const type of this.#declared) {
      const last = groups.at(-1)
      if (last && last[1] === type) last[0]++
      else groups.push([1, type])
    }
    return [...vector(groups.map(([n, type]) => [...unsignedLeb(n), type])), ...code, ...op.end]
  }
}

/** The seven rounds on state locals v0–v15, the message words read from scratch memory. */
function rounds(locals: Locals): number[] {
  const v = (i: number) => locals.at(`v${i}`)
  const t = locals.at('t')
  const message = (word: number) => [...op.i32(0), ...op.load(SCRATCH_AT + 16 * word)]
  const rotate = (x: number, by: number) =>
    by === 16 || by === 8
      ? [...op.tee(t), ...op.get(t), ...op.shuffle(by === 16 ? ROTATE_RIGHT_16 : ROTATE_RIGHT_8), ...op.set(x)]
      : [...op.tee(t), ...op.i32(by), ...op.shrU, ...op.get(t), ...op.i32(32 - by), ...op.shl, ...op.or, ...op.set(x)]
  const g = (a: number, b: number, c: number, d: number, x: number, y: number) => [
    ...op.get(v(a)), ...op.get(v(b)), ...op.add, ...message(x), ...op.add, ...op.set(v(a)),
    ...op.get(v(d)), ...op.get(v(a)), ...op.xor, ...rotate(v(d), 16),
    ...op.get(v(c)), ...op.get(v(d)), ...op.add, ...op.set(v(c)),
    ...op.get(v(b)), ...op.get(v(c)), ...op.xor, ...rotate(v(b), 12),
    ...op.get(v(a)), ...op.get(v(b)), ...op.add, ...message(y), ...op.add, ...op.set(v(a)),
    ...op.get(v(d)), ...op.get(v(a)), ...op.xor, ...rotate(v(d), 8),
    ...op.get(v(c)), ...op.get(v(d)), ...op.add, ...op.set(v(c)),
    ...op.get(v(b)), ...op.get(v(c)), ...op.xor, ...rotate(v(b), 7),
  ]
  return SCHEDULE.flatMap((s) => [
    ...g(0, 4, 8, 12, s[0]!, s[1]!), ...g(1, 5, 9, 13, s[2]!, s[3]!), ...g(2, 6, 10, 14, s[4]!, s[5]!), ...g(3, 7, 11, 15, s[6]!, s[7]!),
    ...g(0, 5, 10, 15, s[8]!, s[9]!), ...g(1, 6, 11, 12, s[10]!, s[11]!), ...g(2, 7, 8, 13, s[12]!, s[13]!), ...g(3, 4, 9, 14, s[14]!, s[15]!),
  ])
}

/** dst[k] lane j ← src[j] lane k, for four vectors of four 32-bit lanes. */
function transpose(locals: Locals, src: readonly string[], dst: readonly string[]): number[] {
  const [a, b, c, d] = src.map((name) => locals.at(name)) as [number, number, number, number]
  const [t0, t1, t2, t3] = ['t0', 't1', 't2', 't3'].map((name) => locals.at(name)) as [number, number, number, number]
  const low = wordLanes([0, 4, 1, 5])
  const high = wordLanes([2, 6, 3, 7])
  const pick = (x: number, y: number, words: readonly number[], into: number) => [...op.get(x), ...op.get(y), ...op.shuffle(wordLanes(words)), ...op.set(into)]
  return [
    ...op.get(a), ...op.get(b), ...op.shuffle(low), ...op.set(t0),
    ...op.get(c), ...op.get(d), ...op.shuffle(low), ...op.set(t1),
    ...op.get(a), ...op.get(b), ...op.shuffle(high), ...op.set(t2),
    ...op.get(c), ...op.get(d), ...op.shuffle(high), ...op.set(t3),
    ...pick(t0, t1, [0, 1, 4, 5], locals.at(dst[0]!)),
    ...pick(t0, t1, [2, 3, 6, 7], locals.at(dst[1]!)),
    ...pick(t2, t3, [0, 1, 4, 5], locals.at(dst[2]!)),
    ...pick(t2, t3, [2, 3, 6, 7], locals.at(dst[3]!)),
  ]
}

/** Lane j's 64-byte block at address local `at` + j·stride, as 16 transposed words in scratch. */
function loadMessage(locals: Locals, at: number, stride: number): number[] {
  const code: number[] = []
  for (let q = 0; q < 4; q++) {
    for (let j = 0; j < 4; j++) code.push(...op.get(at), ...op.load(j * stride + 16 * q), ...op.set(locals.at(`l${j}`)))
    const words = [0, 1, 2, 3].map((k) => `m${4 * q + k}`)
    code.push(...transpose(locals, ['l0', 'l1', 'l2', 'l3'], words))
    words.forEach((word, k) => code.push(...op.i32(0), ...op.get(locals.at(word)), ...op.store(SCRATCH_AT + 16 * (4 * q + k))))
  }
  return code
}

/** The state after the rounds, v[i] ^ v[i + 8], as chaining values cv0–cv7. */
function finishState(locals: Locals): number[] {
  return [...Array(8).keys()].flatMap((i) => [...op.get(locals.at(`v${i}`)), ...op.get(locals.at(`v${i + 8}`)), ...op.xor, ...op.set(locals.at(`cv${i}`))])
}

/** cv0–cv7 written as lane j's 32 bytes at address local `at` + 32j. */
function storeValues(locals: Locals, at: number): number[] {
  return [0, 4].flatMap((half) => [
    ...transpose(locals, [0, 1, 2, 3].map((k) => `cv${half + k}`), ['o0', 'o1', 'o2', 'o3']),
    ...[0, 1, 2, 3].flatMap((j) => [...op.get(at), ...op.get(locals.at(`o${j}`)), ...op.store(j * 32 + half * 4)]),
  ])
}

function chunksFunction(): number[] {
  const locals = new Locals(['in', 'out', 'groups', 'low', 'high'])
  const [IN, OUT, GROUPS, LOW, HIGH] = [0, 1, 2, 3, 4]
  const block = locals.at('block', I32)
  const at = locals.at('at', I32)
  const counter = locals.at('counter')
  const counterHigh = locals.at('counterHigh')
  const v = (i: number) => locals.at(`v${i}`)
  const code = [
    ...op.get(HIGH), ...op.splat, ...op.set(counterHigh),
    ...op.block, ...op.loop,
    ...op.get(GROUPS), ...op.i32(0), ...op.i32Eq, ...op.brIf(1),
    ...op.get(LOW), ...op.splat, ...op.constant([0, 1, 2, 3]), ...op.add, ...op.set(counter),
    ...IV.flatMap((word, i) => [...splat(word), ...op.set(locals.at(`cv${i}`))]),
    ...op.i32(0), ...op.set(block), ...op.get(IN), ...op.set(at),
    ...op.block, ...op.loop,
    ...loadMessage(locals, at, CHUNK_BYTES),
    ...[...Array(8).keys()].flatMap((i) => [...op.get(locals.at(`cv${i}`)), ...op.set(v(i))]),
    ...IV.slice(0, 4).flatMap((word, i) => [...splat(word), ...op.set(v(8 + i))]),
    ...op.get(counter), ...op.set(v(12)), ...op.get(counterHigh), ...op.set(v(13)), ...splat(BLOCK_BYTES), ...op.set(v(14)),
    // flags: CHUNK_START on block 0, CHUNK_END on block 15
    ...op.i32(CHUNK_START), ...op.i32(0), ...op.get(block), ...op.i32(0), ...op.i32Eq, ...op.select,
    ...op.i32(CHUNK_END), ...op.i32(0), ...op.get(block), ...op.i32(15), ...op.i32Eq, ...op.select,
    ...op.i32Or, ...op.splat, ...op.set(v(15)),
    ...rounds(locals),
    ...finishState(locals),
    ...op.get(at), ...op.i32(BLOCK_BYTES), ...op.i32Add, ...op.set(at),
    ...op.get(block), ...op.i32(1), ...op.i32Add, ...op.tee(block), ...op.i32(16), ...op.i32LtU, ...op.brIf(0),
    ...op.end, ...op.end,
    ...storeValues(locals, OUT),
    ...op.get(IN), ...op.i32(4 * CHUNK_BYTES), ...op.i32Add, ...op.set(IN),
    ...op.get(OUT), ...op.i32(128), ...op.i32Add, ...op.set(OUT),
    ...op.get(LOW), ...op.i32(4), ...op.i32Add, ...op.set(LOW),
    ...op.get(GROUPS), ...op.i32(-1), ...op.i32Add, ...op.set(GROUPS),
    ...op.br(0),
    ...op.end, ...op.end,
  ]
  return locals.entry(code)
}

function parentsFunction(): number[] {
  const locals = new Locals(['in', 'out', 'groups'])
  const [IN, OUT, GROUPS] = [0, 1, 2]
  const v = (i: number) => locals.at(`v${i}`)
  const code = [
    ...op.block, ...op.loop,
    ...op.get(GROUPS), ...op.i32(0), ...op.i32Eq, ...op.brIf(1),
    ...loadMessage(locals, IN, BLOCK_BYTES),
    ...IV.flatMap((word, i) => [...splat(word), ...op.set(v(i))]),
    ...IV.slice(0, 4).flatMap((word, i) => [...splat(word), ...op.set(v(8 + i))]),
    ...splat(0), ...op.set(v(12)), ...splat(0), ...op.set(v(13)), ...splat(BLOCK_BYTES), ...op.set(v(14)), ...splat(PARENT), ...op.set(v(15)),
    ...rounds(locals),
    ...finishState(locals),
    ...storeValues(locals, OUT),
    ...op.get(IN), ...op.i32(4 * BLOCK_BYTES), ...op.i32Add, ...op.set(IN),
    ...op.get(OUT), ...op.i32(128), ...op.i32Add, ...op.set(OUT),
    ...op.get(GROUPS), ...op.i32(-1), ...op.i32Add, ...op.set(GROUPS),
    ...op.br(0),
    ...op.end, ...op.end,
  ]
  return locals.entry(code)
}

interface KernelExports {
  readonly chunks: (input: number, out: number, groups: number, counterLow: number, counterHigh: number) => void
  readonly parents: (input: number, out: number, groups: number) => void
  readonly memory: { readonly buffer: ArrayBuffer }
}

interface Kernel {
  readonly exports: KernelExports
  readonly bytes: Uint8Array
  readonly words: Uint32Array
}

const newInstance = instances<KernelExports>(() =>
  moduleBytes({
    functions: [
      { name: 'chunks', params: [I32, I32, I32, I32, I32], results: [], code: chunksFunction() },
      { name: 'parents', params: [I32, I32, I32], results: [], code: parentsFunction() },
    ],
    memoryPages: PAGES,
  }),
)

/** An instance of the module: its own memory, so its own window of bytes. */
function newKernel(): Kernel {
  const exports = newInstance()
  return { exports, bytes: new Uint8Array(exports.memory.buffer), words: new Uint32Array(exports.memory.buffer) }
}

/** The instance {@link blake3Simd} hashes with: each call runs to the end before another can start. */
let oneShotKernel: Kernel | undefined

// ---------------------------------------------------------------------------------------------
// The compression function in JavaScript, for what the kernel leaves: a chunk alone, the last
// chunk, the stack's merges and the root.
// ---------------------------------------------------------------------------------------------

/**
 * BLAKE3's compression of block `m` into chaining value `cv`, written to `out` (which may be `cv`).
 * The state and message live in locals, a G function per two lines, the message permuted after each round.
 */
function compress(cv: Uint32Array, m: Uint32Array, counter: number, blockLength: number, flags: number, out: Uint32Array): void {
  let v0 = cv[0]!, v1 = cv[1]!, v2 = cv[2]!, v3 = cv[3]!, v4 = cv[4]!, v5 = cv[5]!, v6 = cv[6]!, v7 = cv[7]!
  let v8 = IV[0] | 0, v9 = IV[1] | 0, v10 = IV[2] | 0, v11 = IV[3] | 0
  let v12 = counter | 0, v13 = Math.floor(counter / 2 ** 32) | 0, v14 = blockLength, v15 = flags
  let m0 = m[0]!, m1 = m[1]!, m2 = m[2]!, m3 = m[3]!, m4 = m[4]!, m5 = m[5]!, m6 = m[6]!, m7 = m[7]!
  let m8 = m[8]!, m9 = m[9]!, m10 = m[10]!, m11 = m[11]!, m12 = m[12]!, m13 = m[13]!, m14 = m[14]!, m15 = m[15]!
  for (let round = 0; round < 7; round++) {
    v0 = (v0 + v4 + m0) | 0; v12 ^= v0; v12 = (v12 >>> 16) | (v12 << 16); v8 = (v8 + v12) | 0; v4 ^= v8; v4 = (v4 >>> 12) | (v4 << 20)
    v0 = (v0 + v4 + m1) | 0; v12 ^= v0; v12 = (v12 >>> 8) | (v12 << 24); v8 = (v8 + v12) | 0; v4 ^= v8; v4 = (v4 >>> 7) | (v4 << 25)
    v1 = (v1 + v5 + m2) | 0; v13 ^= v1; v13 = (v13 >>> 16) | (v13 << 16); v9 = (v9 + v13) | 0; v5 ^= v9; v5 = (v5 >>> 12) | (v5 << 20)
    v1 = (v1 + v5 + m3) | 0; v13 ^= v1; v13 = (v13 >>> 8) | (v13 << 24); v9 = (v9 + v13) | 0; v5 ^= v9; v5 = (v5 >>> 7) | (v5 << 25)
    v2 = (v2 + v6 + m4) | 0; v14 ^= v2; v14 = (v14 >>> 16) | (v14 << 16); v10 = (v10 + v14) | 0; v6 ^= v10; v6 = (v6 >>> 12) | (v6 << 20)
    v2 = (v2 + v6 + m5) | 0; v14 ^= v2; v14 = (v14 >>> 8) | (v14 << 24); v10 = (v10 + v14) | 0; v6 ^= v10; v6 = (v6 >>> 7) | (v6 << 25)
    v3 = (v3 + v7 + m6) | 0; v15 ^= v3; v15 = (v15 >>> 16) | (v15 << 16); v11 = (v11 + v15) | 0; v7 ^= v11; v7 = (v7 >>> 12) | (v7 << 20)
    v3 = (v3 + v7 + m7) | 0; v15 ^= v3; v15 = (v15 >>> 8) | (v15 << 24); v11 = (v11 + v15) | 0; v7 ^= v11; v7 = (v7 >>> 7) | (v7 << 25)
    v0 = (v0 + v5 + m8) | 0; v15 ^= v0; v15 = (v15 >>> 16) | (v15 << 16); v10 = (v10 + v15) | 0; v5 ^= v10; v5 = (v5 >>> 12) | (v5 << 20)
    v0 = (v0 + v5 + m9) | 0; v15 ^= v0; v15 = (v15 >>> 8) | (v15 << 24); v10 = (v10 + v15) | 0; v5 ^= v10; v5 = (v5 >>> 7) | (v5 << 25)
    v1 = (v1 + v6 + m10) | 0; v12 ^= v1; v12 = (v12 >>> 16) | (v12 << 16); v11 = (v11 + v12) | 0; v6 ^= v11; v6 = (v6 >>> 12) | (v6 << 20)
    v1 = (v1 + v6 + m11) | 0; v12 ^= v1; v12 = (v12 >>> 8) | (v12 << 24); v11 = (v11 + v12) | 0; v6 ^= v11; v6 = (v6 >>> 7) | (v6 << 25)
    v2 = (v2 + v7 + m12) | 0; v13 ^= v2; v13 = (v13 >>> 16) | (v13 << 16); v8 = (v8 + v13) | 0; v7 ^= v8; v7 = (v7 >>> 12) | (v7 << 20)
    v2 = (v2 + v7 + m13) | 0; v13 ^= v2; v13 = (v13 >>> 8) | (v13 << 24); v8 = (v8 + v13) | 0; v7 ^= v8; v7 = (v7 >>> 7) | (v7 << 25)
    v3 = (v3 + v4 + m14) | 0; v14 ^= v3; v14 = (v14 >>> 16) | (v14 << 16); v9 = (v9 + v14) | 0; v4 ^= v9; v4 = (v4 >>> 12) | (v4 << 20)
    v3 = (v3 + v4 + m15) | 0; v14 ^= v3; v14 = (v14 >>> 8) | (v14 << 24); v9 = (v9 + v14) | 0; v4 ^= v9; v4 = (v4 >>> 7) | (v4 << 25)
    const t0 = m0, t1 = m1, t2 = m2, t3 = m3, t4 = m4, t5 = m5, t6 = m6, t7 = m7, t8 = m8, t9 = m9, t10 = m10, t11 = m11, t12 = m12, t13 = m13, t14 = m14, t15 = m15
    m0 = t2; m1 = t6; m2 = t3; m3 = t10; m4 = t7; m5 = t0; m6 = t4; m7 = t13; m8 = t1; m9 = t11; m10 = t12; m11 = t5; m12 = t9; m13 = t14; m14 = t15; m15 = t8
  }
  out[0] = v0 ^ v8
  out[1] = v1 ^ v9
  out[2] = v2 ^ v10
  out[3] = v3 ^ v11
  out[4] = v4 ^ v12
  out[5] = v5 ^ v13
  out[6] = v6 ^ v14
  out[7] = v7 ^ v15
}

const IV_WORDS = Uint32Array.from(IV)
const parentBlock = new Uint32Array(16)

/** The chaining value of the parent of `left` and `right`, or with `ROOT` the root's first 8 words. */
function parent(left: Uint32Array, right: Uint32Array, flags = 0): Uint32Array {
  parentBlock.set(left)
  parentBlock.set(right, 8)
  const out = new Uint32Array(8)
  compress(IV_WORDS, parentBlock, 0, BLOCK_BYTES, PARENT | flags, out)
  return out
}

const chunkBlock = new Uint8Array(BLOCK_BYTES)
const chunkWords = new Uint32Array(16)

/** The chaining value of one chunk of at most 1 KiB (an empty one only as the whole input), `extraFlags` on its last block. */
function chunkValue(bytes: Uint8Array, counter: number, extraFlags: number): Uint32Array {
  const cv = Uint32Array.from(IV)
  const blocks = Math.max(1, Math.ceil(bytes.length / BLOCK_BYTES))
  for (let b = 0; b < blocks; b++) {
    const block = bytes.subarray(b * BLOCK_BYTES, (b + 1) * BLOCK_BYTES)
    chunkBlock.fill(0)
    chunkBlock.set(block)
    for (let i = 0; i < 16; i++) {
      chunkWords[i] = chunkBlock[4 * i]! | (chunkBlock[4 * i + 1]! << 8) | (chunkBlock[4 * i + 2]! << 16) | (chunkBlock[4 * i + 3]! << 24)
    }
    const flags = (b === 0 ? CHUNK_START : 0) | (b === blocks - 1 ? CHUNK_END | extraFlags : 0)
    compress(cv, chunkWords, counter, block.length, flags, cv)
  }
  return cv
}

const bitCount = (n: number): number => {
  let count = 0
  for (let rest = n; rest > 0; rest = Math.floor(rest / 2)) count += rest % 2
  return count
}

/**
 * An incremental BLAKE3-256. Bytes gather in the window of its own instance of the module; each
 * time the window is full and more bytes come, its first 64 chunks are hashed as one subtree, and
 * the chunk that may be the last stays behind.
 */
export class Blake3Simd {
  readonly #kernel: Kernel
  /** Chaining values of complete subtrees, largest first, and how many chunks they cover in all. */
  readonly #stack: Uint32Array[] = []
  #chunks = 0
  /** Bytes in the window not yet hashed. */
  #filled = 0
  #done = false

  constructor(kernel: Kernel = newKernel()) {
    this.#kernel = kernel
  }

  update(input: Uint8Array): this {
    if (this.#done) throw new Error('BLAKE3 hasher already finished')
    const { bytes } = this.#kernel
    for (let at = 0; at < input.length; ) {
      if (this.#filled === WINDOW_BYTES + CHUNK_BYTES) {
        this.#addSubtree(0, WINDOW_CHUNKS)
        bytes.copyWithin(0, WINDOW_BYTES, WINDOW_BYTES + CHUNK_BYTES)
        this.#filled = CHUNK_BYTES
      }
      const take = Math.min(input.length - at, WINDOW_BYTES + CHUNK_BYTES - this.#filled)
      bytes.set(input.subarray(at, at + take), this.#filled)
      this.#filled += take
      at += take
    }
    return this
  }

  digest(): Uint8Array {
    if (this.#done) throw new Error('BLAKE3 hasher already finished')
    this.#done = true
    const { bytes } = this.#kernel
    // Every whole chunk but the last, in subtrees of the sizes the chunk count allows.
    const whole = Math.max(0, Math.ceil(this.#filled / CHUNK_BYTES) - 1)
    for (let done = 0; done < whole; ) {
      let size = WINDOW_CHUNKS
      while (size > 1 && (this.#chunks % size !== 0 || done + size > whole)) size /= 2
      this.#addSubtree(done, size)
      done += size
    }
    const last = bytes.subarray(whole * CHUNK_BYTES, this.#filled)
    while (this.#stack.length > bitCount(this.#chunks)) this.#mergeTop()
    let value = chunkValue(last, this.#chunks, this.#stack.length === 0 ? ROOT : 0)
    for (let i = this.#stack.length - 1; i >= 0; i--) value = parent(this.#stack[i]!, value, i === 0 ? ROOT : 0)
    return new Uint8Array(value.buffer, 0, 32)
  }

  /** Hashes `size` chunks (a power of two up to 64) from the window's chunk `first`, and pushes their subtree. */
  #addSubtree(first: number, size: number): void {
    const { exports, words } = this.#kernel
    // Under four chunks, the kernel's other lanes hash whatever follows in memory, unused.
    exports.chunks(first * CHUNK_BYTES, VALUES_AT, Math.max(1, size / 4), this.#chunks >>> 0, Math.floor(this.#chunks / 2 ** 32))
    let values = size
    for (; values > 4; values /= 2) exports.parents(VALUES_AT, VALUES_AT, values / 8)
    const at = (i: number) => words.slice(VALUES_AT / 4 + 8 * i, VALUES_AT / 4 + 8 * i + 8)
    const value = values === 1 ? at(0) : values === 2 ? parent(at(0), at(1)) : parent(parent(at(0), at(1)), parent(at(2), at(3)))
    // Lazy merging: the stack merges before a push, down to one entry per bit of the chunk count.
    while (this.#stack.length > bitCount(this.#chunks)) this.#mergeTop()
    this.#stack.push(value)
    this.#chunks += size
  }

  #mergeTop(): void {
    const right = this.#stack.pop()!
    const left = this.#stack.pop()!
    this.#stack.push(parent(left, right))
  }
}

/** BLAKE3-256 of `bytes`. */
export function blake3Simd(bytes: Uint8Array): Uint8Array {
  oneShotKernel ??= newKernel()
  return new Blake3Simd(oneShotKernel).update(bytes).digest()
}

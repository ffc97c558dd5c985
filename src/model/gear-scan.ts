import { I32, instances, moduleBytes, signedLeb, unsignedLeb, vector } from './wasm-bytes.js'

/*
 * The chunker's inner loop, the gear hash, as a small WebAssembly function. The same loop in
 * JavaScript ran at 0.8–1.3 GB/s here and was the largest cost of storing a large file on the
 * calling thread; this one runs at 2.2–3.6 GB/s (docs/performance.md). The module is written out
 * below byte by byte (no toolchain); its text form:
 *
 *   (memory (export "memory") 5)          ;; GEAR as 256 × i32 at 0, the input window after it
 *   (global (export "h") (mut i32) (i32.const 0))
 *   (func (export "scan") (param $p i32) (param $end i32) (param $h i32) (param $mask i32) (result i32)
 *     ;; for each byte from $p to $end: h = (h << 1) + GEAR[byte];
 *     ;; if (h & mask) == 0, return the address just after that byte.
 *     ;; The loop is unrolled 8 times, then finishes byte by byte.
 *     ;; No cut: store h in the global "h" and return -1.
 *   )
 */

/** Where the input window starts in the module's memory: after the gear table. */
const WINDOW_START = 1024
/** Bytes of input copied into the module per call. */
const WINDOW_BYTES = 256 * 1024
const PAGE_BYTES = 64 * 1024
const PAGES = Math.ceil((WINDOW_START + WINDOW_BYTES) / PAGE_BYTES)
const UNROLL = 8

// Opcodes (WebAssembly core specification, binary format).
const BLOCK = 0x02
const LOOP = 0x03
const IF = 0x04
const VOID = 0x40
const END = 0x0b
const BR_IF = 0x0d
const RETURN = 0x0f
const LOCAL_GET = 0x20
const LOCAL_SET = 0x21
const LOCAL_TEE = 0x22
const GLOBAL_SET = 0x24
const I32_LOAD = 0x28
const I32_LOAD8_U = 0x2d
const I32_CONST = 0x41
const I32_EQZ = 0x45
const I32_LT_S = 0x48
const I32_GT_S = 0x4a
const I32_LE_S = 0x4c
const I32_GE_S = 0x4e
const I32_ADD = 0x6a
const I32_SUB = 0x6b
const I32_AND = 0x71
const I32_SHL = 0x74

// Locals: the four parameters, then one more.
const P = 0
const END_AT = 1
const H = 2
const MASK = 3
const LAST_UNROLLED = 4

const i32 = (n: number): number[] => [I32_CONST, ...signedLeb(n)]

/** h = (h << 1) + GEAR[mem[p + k]]; if (h & mask) == 0 return p + k + 1 */
function step(k: number): number[] {
  return [
    LOCAL_GET, H, ...i32(1), I32_SHL,
    LOCAL_GET, P, I32_LOAD8_U, 0, ...unsignedLeb(k), ...i32(2), I32_SHL, I32_LOAD, 2, 0,
    I32_ADD, LOCAL_TEE, H,
    LOCAL_GET, MASK, I32_AND, I32_EQZ,
    IF, VOID, LOCAL_GET, P, ...i32(k + 1), I32_ADD, RETURN, END,
  ]
}

function scanCode(): number[] {
  return [
    ...vector([[1, I32]]),
    LOCAL_GET, END_AT, ...i32(UNROLL), I32_SUB, LOCAL_SET, LAST_UNROLLED,
    // while p <= end - UNROLL: UNROLL steps
    BLOCK, VOID,
    LOCAL_GET, P, LOCAL_GET, LAST_UNROLLED, I32_GT_S, BR_IF, 0,
    LOOP, VOID,
    ...Array.from({ length: UNROLL }, (_, k) => step(k)).flat(),
    LOCAL_GET, P, ...i32(UNROLL), I32_ADD, LOCAL_TEE, P, LOCAL_GET, LAST_UNROLLED, I32_LE_S, BR_IF, 0,
    END, END,
    // while p < end: one step
    BLOCK, VOID,
    LOCAL_GET, P, LOCAL_GET, END_AT, I32_GE_S, BR_IF, 0,
    LOOP, VOID,
    ...step(0),
    LOCAL_GET, P, ...i32(1), I32_ADD, LOCAL_TEE, P, LOCAL_GET, END_AT, I32_LT_S, BR_IF, 0,
    END, END,
    LOCAL_GET, H, GLOBAL_SET, 0, ...i32(-1), END,
  ]
}

const newInstance = instances<GearExports>(() =>
  moduleBytes({ functions: [{ name: 'scan', params: [I32, I32, I32, I32], results: [I32], code: scanCode() }], memoryPages: PAGES, global: 'h' }),
)

interface GearExports {
  readonly scan: (p: number, end: number, h: number, mask: number) => number
  readonly memory: { readonly buffer: ArrayBuffer }
  readonly h: { readonly value: number }
}

/** Runs the gear hash over bytes for the chunker, in WebAssembly. One per gear table and thread. */
export class GearScanner {
  readonly #exports: GearExports
  readonly #window: Uint8Array
  /** The hash after the last {@link scan} that found no cut. */
  h = 0

  constructor(gear: Int32Array) {
    if (gear.length !== 256) throw new RangeError(`a gear table has 256 entries, got ${gear.length}`)
    this.#exports = newInstance()
    new Int32Array(this.#exports.memory.buffer, 0, 256).set(gear)
    this.#window = new Uint8Array(this.#exports.memory.buffer, WINDOW_START, WINDOW_BYTES)
  }

  /**
   * Feeds `data[from, to)` to the hash, starting from `h`: the index in `data` just after the
   * first byte where `h & mask` is 0, or -1 if there is none (then the hash is in {@link h}).
   */
  scan(data: Uint8Array, from: number, to: number, h: number, mask: number): number {
    let hash = h
    for (let at = from; at < to; ) {
      const length = Math.min(WINDOW_BYTES, to - at)
      this.#window.set(data.subarray(at, at + length))
      const cut = this.#exports.scan(WINDOW_START, WINDOW_START + length, hash, mask)
      if (cut >= 0) return at + cut - WINDOW_START
      hash = this.#exports.h.value
      at += length
    }
    this.h = hash
    return -1
  }
}

/*
 * Writing small WebAssembly modules byte by byte (binary format of the WebAssembly core
 * specification), for the two hot loops ckpt keeps in WebAssembly: the chunker's gear hash
 * (gear-scan.ts) and BLAKE3 for large blobs (blake3-simd.ts). No toolchain is involved: each
 * module is a few hundred bytes built when first used, and checked by the engine when compiled.
 */

/** What ckpt uses of the WebAssembly global (declared in TypeScript's DOM library, which this project leaves out). */
declare const WebAssembly: {
  readonly Module: new (bytes: Uint8Array) => object
  readonly Instance: new (module: object) => { readonly exports: object }
}

export const I32 = 0x7f
export const V128 = 0x7b

export function unsignedLeb(n: number): number[] {
  const out: number[] = []
  do {
    let byte = n & 0x7f
    n >>>= 7
    if (n !== 0) byte |= 0x80
    out.push(byte)
  } while (n !== 0)
  return out
}

export function signedLeb(n: number): number[] {
  const out: number[] = []
  for (;;) {
    const byte = n & 0x7f
    n >>= 7
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) return [...out, byte]
    out.push(byte | 0x80)
  }
}

/** A vector: its length, then its items. */
export const vector = (items: number[][]): number[] => [...unsignedLeb(items.length), ...items.flat()]

/** A name, as exports carry them. */
export const name = (text: string): number[] => vector([...new TextEncoder().encode(text)].map((c) => [c]))

export interface ModuleParts {
  /** Each function's parameter types; every function returns `results`. */
  readonly functions: ReadonlyArray<{ readonly params: readonly number[]; readonly results: readonly number[]; readonly code: number[]; readonly name: string }>
  readonly memoryPages: number
  /** A mutable i32 global, exported under this name, when there is one. */
  readonly global?: string
}

const section = (id: number, body: number[]): number[] => [id, ...unsignedLeb(body.length), ...body]

/** The module's bytes: one memory exported as "memory", the functions exported by name, and the global. */
export function moduleBytes({ functions, memoryPages, global }: ModuleParts): Uint8Array {
  const exports = [...functions.map((f, i) => [...name(f.name), 0x00, i]), [...name('memory'), 0x02, 0], ...(global ? [[...name(global), 0x03, 0]] : [])]
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vector(functions.map((f) => [0x60, ...vector(f.params.map((t) => [t])), ...vector(f.results.map((t) => [t]))]))),
    ...section(3, vector(functions.map((_, i) => [i]))),
    ...section(5, vector([[0x00, ...unsignedLeb(memoryPages)]])),
    ...(global ? section(6, vector([[I32, 1, 0x41, 0, 0x0b]])) : []),
    ...section(7, vector(exports)),
    ...section(10, vector(functions.map((f) => [...unsignedLeb(f.code.length), ...f.code]))),
  ])
}

/** Compiles `bytes` once; each call of the result makes a new instance (its own memory). */
export function instances<Exports>(bytes: () => Uint8Array): () => Exports {
  let compiled: object | undefined
  return () => {
    compiled ??= new WebAssembly.Module(bytes())
    return new WebAssembly.Instance(compiled).exports as Exports
  }
}

import { CkptError, quoted } from '../errors.js'

/** Longest file or folder name most file systems take (NAME_MAX), in bytes. */
const NAME_MAX_BYTES = 255
/** Longest path the kernel takes (PATH_MAX, less its NUL), in bytes. */
const PATH_MAX_BYTES = 4095

/** An output written under another name than the one it would have had, because that one was taken. */
export interface RenamedOutput {
  readonly stage: string
  readonly wanted: string
  readonly written: string
}

/**
 * Hands out distinct relative paths in a checkout folder, the way the git mirror names colliding
 * entries: a name already taken (by another output, or reserved) gets `~2`, `~3`, …
 */
export class OutputNames {
  readonly #taken = new Set<string>()
  readonly #folders = new Map<string, string>()
  readonly renamed: RenamedOutput[] = []

  constructor(reserved: readonly string[]) {
    for (const name of reserved) this.#taken.add(name)
  }

  /** The folder known as `key` (one per stage and logical path), named `wanted` inside `parent` the first time. */
  folder(stage: string, key: string, parent: string, wanted: string): string {
    const known = this.#folders.get(key)
    if (known !== undefined) return known
    const name = this.#claim(stage, parent, wanted)
    this.#folders.set(key, name)
    return name
  }

  file(stage: string, parent: string, wanted: string): string {
    return this.#claim(stage, parent, wanted)
  }

  /** Whether this checkout writes a file or folder at `name`. */
  has(name: string): boolean {
    return this.#taken.has(name)
  }

  #claim(stage: string, parent: string, wanted: string): string {
    const base = parent === '' ? wanted : `${parent}/${wanted}`
    let name = base
    for (let n = 2; this.#taken.has(name); n++) name = `${base}~${n}`
    this.#taken.add(name)
    if (name !== base) this.renamed.push({ stage, wanted: base, written: name })
    return name
  }
}

const encoder = new TextEncoder()

/** A UTF-16 code unit takes at most 3 bytes of UTF-8: text this short fits without being measured. */
const surelyFits = (text: string, maxBytes: number) => text.length * 3 <= maxBytes

/** Whether the path `folder/relative` is within the kernel's PATH_MAX. */
export function fitsPathMax(folder: string, relative: string): boolean {
  const full = `${folder}/${relative}`
  return surelyFits(full, PATH_MAX_BYTES) || encoder.encode(full).length <= PATH_MAX_BYTES
}

/** INVALID_ARGUMENT when a file system could not hold `relative` under `root`: checked before anything is written. */
export function checkNameLength(root: string, relative: string): void {
  if (surelyFits(relative, NAME_MAX_BYTES) && surelyFits(`${root}/${relative}`, PATH_MAX_BYTES)) return
  for (const part of relative.split('/')) {
    const bytes = encoder.encode(part).length
    if (bytes > NAME_MAX_BYTES) {
      throw new CkptError('INVALID_ARGUMENT', `checkout cannot write ${quoted(relative)}: the name ${quoted(part)} is ${bytes} bytes, more than the ${NAME_MAX_BYTES} a file system allows`, {
        details: { path: relative },
      })
    }
  }
  const bytes = encoder.encode(`${root}/${relative}`).length
  if (bytes > PATH_MAX_BYTES) {
    throw new CkptError('INVALID_ARGUMENT', `checkout cannot write ${quoted(relative)} into ${root}: the path is ${bytes} bytes, more than the ${PATH_MAX_BYTES} a file system allows`, {
      details: { path: relative },
    })
  }
}

/** Whether a name read from a manifest is a plain relative path (a planted manifest may hold anything). */
export function isPlainRelativePath(name: unknown): name is string {
  return typeof name === 'string' && name !== '' && !name.startsWith('/') && !name.includes('\0') && !name.includes('\\') && name.split('/').every((p) => p !== '' && p !== '.' && p !== '..')
}

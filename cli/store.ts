import { existsSync } from 'node:fs'
import path from 'node:path'
import type { Store } from '../src/index.js'
import { printable } from './format.js'

/** The folder `ckpt init` creates, found by walking up from the working directory like `.git`. */
export const STORE_FOLDER = '.ckpt'

export interface GlobalArgs {
  readonly store?: string | undefined
  readonly pager?: boolean | undefined
}

/** The library, loaded on first use so that `--help` and completion start fast. */
export const library = () => import('../src/index.js')

/** `postgres:` of `postgres://host/db`, `memory:`; not a one-letter drive (`C:\\store`). */
const URL_SCHEME = /^[a-z][a-z0-9+.-]+:/i

/**
 * A store location given by the user: a URL (`postgres://…`, `memory:`) as given, for the
 * library to pick its backend by scheme (and refuse one it does not know); else a path, made absolute.
 */
export function storeLocation(given: string, cwd = process.cwd()): string {
  return isUrlLocation(given) ? given : path.resolve(cwd, given)
}

/** True when `given` is a URL (`postgres://…`, `memory:`), not a path. */
export function isUrlLocation(given: string): boolean {
  return URL_SCHEME.test(given)
}

/** A location or message fit to print: the password of any URL in it (`user:password@`, `?password=`) left out. */
export function withoutPasswords(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]+:\/\/[^/@:\s]*):[^/@\s]*@/gi, '$1@')
    .replace(/([?&])password=[^&#\s"']*(&)?/gi, (_, separator: string, next?: string) => (next ? separator : ''))
}

/** `--store DIR|URL`, else `$CKPT_DIR`, else the nearest `.ckpt/` at or above the working directory. */
export async function findStoreDir(explicit: string | undefined, cwd = process.cwd()): Promise<string> {
  const given = explicit ?? process.env.CKPT_DIR
  if (given) return storeLocation(given, cwd)
  const { CkptError, STORE_MARKER } = await library()
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, STORE_FOLDER, STORE_MARKER))) return path.join(dir, STORE_FOLDER)
    if (path.dirname(dir) === dir) break
  }
  throw new CkptError('NOT_A_STORE', `not inside a ckpt store (no ${STORE_FOLDER}/ here or in any parent folder); create one with \`ckpt init\``, {
    details: { path: cwd },
  })
}

/** Opens the store the arguments name, runs `use`, and always closes it. */
export async function withStore<T>(args: GlobalArgs, use: (store: Store, dir: string) => Promise<T>): Promise<T> {
  const dir = await findStoreDir(args.store)
  const store = await openNamedStore(dir)
  try {
    return await use(store, dir)
  } finally {
    await store.close()
  }
}

/**
 * Opens the store at `dir`; when `dir` is a project folder whose store is `dir/.ckpt` (what
 * `ckpt init DIR` made), says so instead of the library's "not a store".
 */
async function openNamedStore(dir: string): Promise<Store> {
  const { openStore, CkptError, STORE_MARKER } = await library()
  try {
    return await openStore(dir)
  } catch (err) {
    if (!(err instanceof CkptError) || err.code !== 'NOT_A_STORE' || isUrlLocation(dir)) throw err
    const inner = path.join(dir, STORE_FOLDER)
    const hint = existsSync(path.join(inner, STORE_MARKER)) ? `its store is ${inner}: use --store ${inner} (or CKPT_DIR=${inner})` : 'create one with `ckpt init`'
    throw new CkptError('NOT_A_STORE', `${dir} is not a ckpt store; ${hint}`, { cause: err, details: { path: dir } })
  }
}

/** `KEY=VALUE` options (`--meta`) as a record; INVALID_ARGUMENT naming a value without a key and `=`. */
export async function parseKeyValues(pairs: readonly string[] | undefined, flag: string): Promise<Record<string, string>> {
  const entries: Array<[string, string]> = []
  for (const pair of pairs ?? []) {
    const eq = pair.indexOf('=')
    if (eq <= 0) {
      const { CkptError } = await library()
      throw new CkptError('INVALID_ARGUMENT', `${flag} "${pair}": give KEY=VALUE`, { details: { value: pair } })
    }
    entries.push([pair.slice(0, eq), pair.slice(eq + 1)])
  }
  return Object.fromEntries(entries)
}

/**
 * JSON given on the command line (`source` a flag: the value is shown) or in a file or stdin
 * (only the place of the problem is shown: the content may be binary); INVALID_ARGUMENT when it
 * does not parse.
 */
export async function parseJsonArgument(text: string, source: string): Promise<unknown> {
  try {
    return JSON.parse(text)
  } catch (cause) {
    const { CkptError } = await library()
    const given = source.startsWith('-') ? `${source} ${printable(text.length > 60 ? `${text.slice(0, 60)}…` : text)}` : source
    throw new CkptError('INVALID_ARGUMENT', `${given} is not valid JSON: ${jsonProblem(cause as Error)}`, { cause, details: { source } })
  }
}

/** JSON.parse's complaint without the input it quotes: "unexpected token at character 3". */
function jsonProblem(cause: Error): string {
  const position = /position (\d+)/.exec(cause.message)?.[1]
  const what = cause.message.startsWith('Unexpected end') ? 'it ends too soon' : cause.message.split(/ in JSON|, "/)[0]?.trim() ?? 'malformed'
  return position === undefined ? printable(what) : `${printable(what)} at character ${Number(position) + 1}`
}

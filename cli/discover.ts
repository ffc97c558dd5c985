import { existsSync } from 'node:fs'
import path from 'node:path'
import { CkptError, STORE_MARKER, openStore, type Store } from '../src/index.js'

/** The folder `ckpt init` creates, found by walking up from the working directory like `.git`. */
export const STORE_FOLDER = '.ckpt'

/** `--store DIR`, else `$CKPT_DIR`, else the nearest `.ckpt/` at or above the working directory. */
export function findStoreDir(explicit: string | undefined, cwd = process.cwd()): string {
  const given = explicit ?? process.env.CKPT_DIR
  if (given) return path.resolve(cwd, given)
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, STORE_FOLDER)
    if (existsSync(path.join(candidate, STORE_MARKER))) return candidate
    if (path.dirname(dir) === dir) break
  }
  throw new CkptError('NOT_A_STORE', `not inside a ckpt store (no ${STORE_FOLDER}/ here or in any parent folder); create one with \`ckpt init\``, {
    details: { path: cwd },
  })
}

export async function openFromArgs(args: { store?: string | undefined }): Promise<Store> {
  return openStore(findStoreDir(args.store))
}

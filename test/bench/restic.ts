/**
 * Large files from the command line, ckpt against restic on the same file in the same run: a new
 * 1 GiB file, the same file unchanged, 1 MiB overwritten in its middle, 1 MiB inserted at a third.
 * Each step runs `ckpt commit --file` and then `restic backup` on the one file as it stands, both
 * as whole processes, so start-up counts for both. The file is committed unchanged twice: the first
 * time ckpt hashes it once, because the file was written within 2 s of its first commit (git's
 * racy-clean rule, src/core/file-source.ts); the second time its stat alone proves it unchanged. restic is the peer people use to back up big
 * files by content-defined chunks; it comes from Debian's package, installed here when missing.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, renameSync } from 'node:fs'
import { randomFillSync } from 'node:crypto'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { overwriteInPlace, writeRandomFile, writeWithInsertion } from './large.js'

export interface ResticStep {
  readonly ckptSeconds: number
  readonly resticSeconds: number
}

export type ResticFigures =
  | { readonly skipped: string }
  | { readonly version: string; readonly bytes: number; readonly created: ResticStep; readonly unchanged: ResticStep; readonly unchangedAgain: ResticStep; readonly overwritten: ResticStep; readonly inserted: ResticStep }

const MiB = 1024 * 1024
const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../cli/main.js')
const RESTIC_ENV = { ...process.env, RESTIC_PASSWORD: 'bench' }

/** restic's version line, installing Debian's package first when it is missing and we may; else why not. */
export function ensureRestic(): { version: string } | { skipped: string } {
  const version = () => spawnSync('restic', ['version'], { encoding: 'utf8' })
  let found = version()
  if (found.status === 0) return { version: found.stdout.trim() }
  if (process.getuid?.() !== 0) return { skipped: 'restic is not installed and installing it needs root (apt-get install restic)' }
  const install = spawnSync('sh', ['-c', 'apt-get install -y -q restic || (apt-get update -q && apt-get install -y -q restic)'], { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
  found = version()
  if (found.status === 0) return { version: found.stdout.trim() }
  return { skipped: `restic could not be installed from Debian's package: ${(install.stderr || install.stdout).trim().split('\n').pop() ?? `exit ${install.status}`}` }
}

function timed(command: string, args: string[], env: NodeJS.ProcessEnv): number {
  const start = process.hrtime.bigint()
  execFileSync(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 64 * MiB })
  return Number(process.hrtime.bigint() - start) / 1e9
}

/** Runs the four steps on `bytes` of random data in `work`; restic's repository and ckpt's store sit side by side there. */
export function resticBench(work: string, bytes: number): ResticFigures {
  const restic = ensureRestic()
  if ('skipped' in restic) return restic
  const data = path.join(work, 'restic-data')
  mkdirSync(data, { recursive: true })
  const file = path.join(data, 'weights.bin')
  const store = path.join(work, 'restic-peer-store')
  const repo = path.join(work, 'restic-repo')
  execFileSync(process.execPath, [CLI, '--store', store, 'init'], { stdio: 'ignore' })
  execFileSync('restic', ['init', '--repo', repo], { env: RESTIC_ENV, stdio: 'ignore' })
  // Written just before its first commit, as a stage's output is.
  writeRandomFile(file, bytes)
  const step = (message: string): ResticStep => ({
    ckptSeconds: timed(process.execPath, [CLI, '--store', store, 'commit', '--stage', 'weights', '--file', file, '-m', message], process.env),
    // The same one path each time, so restic finds its parent snapshot and trusts an unchanged file's metadata.
    resticSeconds: timed('restic', ['backup', '--repo', repo, '--quiet', '--host', 'bench', file], RESTIC_ENV),
  })
  const created = step('new')
  const unchanged = step('unchanged')
  const unchangedAgain = step('unchanged again')
  overwriteInPlace(file, Math.floor(bytes / 2), randomFillSync(Buffer.alloc(MiB)))
  const overwritten = step('overwritten')
  insertInto(file, Math.floor(bytes / 3), randomFillSync(Buffer.alloc(MiB)))
  const inserted = step('inserted')
  return { version: restic.version, bytes, created, unchanged, unchangedAgain, overwritten, inserted }
}

/** Rewrites `file` with `insert` placed at offset `at`, through a temporary file renamed over it (a new inode, as editors save). */
function insertInto(file: string, at: number, insert: Uint8Array): void {
  const next = `${file}.next`
  writeWithInsertion(file, next, at, insert)
  renameSync(next, file)
}

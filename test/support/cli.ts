import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
/** The built `ckpt` binary; `npm test` builds it with tsc before vitest runs. */
export const CKPT = path.join(root, 'dist/cli/main.js')

export interface RunOptions {
  input?: string | Uint8Array
  env?: Record<string, string>
  /** Kill the child after this long (its exit code is then null). */
  timeoutMs?: number
}

/** Runs the built `ckpt` binary as a child process in `cwd`, without colour and without the caller's CKPT_DIR. */
export function ckpt(cwd: string, args: string[], options: RunOptions = {}) {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...options.env }
  delete env.CKPT_DIR
  delete env.FORCE_COLOR
  if (options.env?.FORCE_COLOR) env.FORCE_COLOR = options.env.FORCE_COLOR
  if (options.env?.CKPT_DIR) env.CKPT_DIR = options.env.CKPT_DIR
  const result = spawnSync(process.execPath, [CKPT, ...args], { cwd, env, input: options.input ?? '', ...(options.timeoutMs !== undefined && { timeout: options.timeoutMs }) })
  return { code: result.status, stdout: result.stdout.toString('utf8'), raw: result.stdout, stderr: result.stderr.toString('utf8') }
}

export const jsonLines = (text: string) => text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)

/** `ckpt ARGS…` in `dir` that must succeed: returns its stdout, trimmed; throws with its stderr when it fails. */
export function ckptIn(dir: string): (...args: string[]) => string {
  return (...args) => {
    const r = ckpt(dir, args)
    if (r.code !== 0) throw new Error(`ckpt ${args.join(' ')} failed (${r.code}): ${r.stderr}`)
    return r.stdout.trim()
  }
}

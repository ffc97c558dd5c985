import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { CKPT } from './cli.js'

/** One argument quoted for sh, whatever it holds. */
export const shellQuote = (arg: string): string => `'${arg.replaceAll("'", `'\\''`)}'`

export interface TerminalOptions {
  cwd: string
  /** The terminal's width (set with stty before the command runs). */
  columns?: number
  env?: Record<string, string>
  timeoutMs?: number
}

/**
 * Runs a sh command line on a pseudo terminal (util-linux `script`), so that stdout and stderr are
 * TTYs; returns what the terminal showed, line ends as `\n`. Redirect stdout in `command` to see
 * stderr alone.
 */
export function inTerminal(command: string, options: TerminalOptions): Promise<{ code: number | null; screen: string }> {
  const line = options.columns === undefined ? command : `stty cols ${options.columns}; ${command}`
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...options.env }
  delete env.COLUMNS
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', line, '/dev/null'], { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    const pieces: Buffer[] = []
    child.stdout.on('data', (piece: Buffer) => pieces.push(piece))
    child.stderr.on('data', (piece: Buffer) => pieces.push(piece))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, screen: Buffer.concat(pieces).toString('utf8').replaceAll('\r\n', '\n') })
    })
  })
}

/** A folder holding a `ckpt` shell wrapper around the built binary, to put first on PATH. */
export function ckptOnPath(dir: string): string {
  const bin = path.join(dir, 'bin')
  mkdirSync(bin, { recursive: true })
  writeFileSync(path.join(bin, 'ckpt'), `#!/bin/sh\nexec ${shellQuote(process.execPath)} ${shellQuote(CKPT)} "$@"\n`, { mode: 0o755 })
  return bin
}

import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
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
  /**
   * Stops the command's process (`exec` it, so it is the terminal's process) for `ms` once it has
   * read (`rchar`) or written (`wchar`) `bytes` bytes: work that takes longer than it would here.
   */
  pause?: { after: 'rchar' | 'wchar'; bytes: number; ms: number }
}

/**
 * Runs a sh command line on a pseudo terminal (util-linux `script`), so that stdout and stderr are
 * TTYs; returns what the terminal showed, line ends as `\n`. Redirect stdout in `command` to see
 * stderr alone.
 */
export function inTerminal(command: string, options: TerminalOptions): Promise<{ code: number | null; screen: string; paused: boolean }> {
  const line = options.columns === undefined ? command : `stty cols ${options.columns}; ${command}`
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...options.env }
  delete env.COLUMNS
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', line, '/dev/null'], { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    const pieces: Buffer[] = []
    child.stdout.on('data', (piece: Buffer) => pieces.push(piece))
    child.stderr.on('data', (piece: Buffer) => pieces.push(piece))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000)
    let paused = false
    const pause = options.pause
    const watch = pause && setInterval(() => {
      const pid = Number(readOrEmpty(`/proc/${child.pid}/task/${child.pid}/children`).trim().split(' ')[0])
      const counted = Number(new RegExp(`${pause.after}: (\\d+)`).exec(readOrEmpty(`/proc/${pid}/io`))?.[1] ?? 0)
      if (!pid || counted < pause.bytes) return
      clearInterval(watch)
      process.kill(pid, 'SIGSTOP')
      paused = true
      // `script` stops itself when its child stops (job control): both go on.
      setTimeout(() => {
        process.kill(pid, 'SIGCONT')
        child.kill('SIGCONT')
      }, pause.ms)
    }, 2)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      if (watch) clearInterval(watch)
      resolve({ code, screen: Buffer.concat(pieces).toString('utf8').replaceAll('\r\n', '\n'), paused })
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

function readOrEmpty(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return '' // the process is not there (yet, or any more)
  }
}

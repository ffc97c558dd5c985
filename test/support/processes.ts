import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { onCleanup } from './temp.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
/** The compiled fixture; `npm test` builds it with tsc before vitest runs. */
export const WRITER = path.join(root, 'dist/test/fixtures/writer.js')

export interface Child {
  readonly process: ChildProcess
  /** Lines printed so far on stdout. */
  readonly lines: string[]
  /** Resolves with the exit code (or signal name). */
  readonly exited: Promise<number | string>
  /** Resolves when a line satisfying `match` appears. */
  waitForLine(match: (line: string) => boolean): Promise<void>
}

/** Runs the writer fixture; `env` adds to this process's environment (see writer.ts for what it reads). */
export function runWriter(args: string[], env: Record<string, string> = {}): Child {
  return runFixture(WRITER, args, env)
}

/** Runs a compiled fixture script (under dist/test/fixtures) as its own process. */
export function fixture(name: string): string {
  return path.join(root, 'dist/test/fixtures', name)
}

/** Runs the compiled fixture `script` with `args`; `env` adds to this process's environment; `cwd`: its working directory. */
export function runFixture(script: string, args: string[], env: Record<string, string> = {}, cwd?: string): Child {
  if (!existsSync(script)) throw new Error(`${script} is missing: run \`npm run build\` first`)
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env }, ...(cwd !== undefined && { cwd }) })
  const lines: string[] = []
  const waiters: Array<{ match: (line: string) => boolean; resolve: () => void }> = []
  let partial = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    partial += text
    const parts = partial.split('\n')
    partial = parts.pop() ?? ''
    for (const line of parts) {
      lines.push(line)
      for (const w of waiters.filter((w) => w.match(line))) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve()
      }
    }
  })
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text))
  const exited = new Promise<number | string>((resolve) =>
    child.on('close', (code, signal) => {
      if (code !== 0 && code !== null) process.stderr.write(`writer ${args.join(' ')} exited ${code}: ${stderr}\n`)
      resolve(code ?? signal ?? -1)
    }),
  )
  onCleanup(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return {
    process: child,
    lines,
    exited,
    waitForLine: (match) =>
      lines.some(match)
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            waiters.push({ match, resolve })
            void exited.then(() => reject(new Error(`writer exited before printing the expected line; stderr: ${stderr}`)))
          }),
  }
}

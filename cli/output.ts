import { spawn, type ChildProcess } from 'node:child_process'
import type { Writable } from 'node:stream'

/** Colour only when `stream` is a terminal, never with NO_COLOR set; FORCE_COLOR overrides (https://no-color.org). */
export function colorEnabled(stream: NodeJS.WriteStream = process.stdout): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false
  if (process.env.FORCE_COLOR !== undefined) return process.env.FORCE_COLOR !== '0'
  return stream.isTTY === true
}

/** Whether stdout gets colour; asked once, as the environment and stdout do not change while a command runs. */
let stdoutColor: boolean | undefined
const paint = (code: string) => (text: string) => ((stdoutColor ??= colorEnabled()) ? `\u001b[${code}m${text}\u001b[0m` : text)
export const yellow = paint('33')
export const green = paint('32')
export const red = paint('31')
export const cyan = paint('36')
export const bold = paint('1')
export const dim = paint('2')

/** Pending output is written once it reaches this many characters. */
const FLUSH_AT = 64 * 1024

/**
 * Where command output goes: stdout, or a pager for long output on a terminal, as git does
 * (`--no-pager`, `$CKPT_PAGER`, `$PAGER`, default `less -FRX`). Never a pager when piped.
 */
class Output {
  #sink: Writable = process.stdout
  #pager: ChildProcess | undefined
  /** Text not yet handed to the sink: like stdio, output to a pipe or file goes in blocks, not a write per line. */
  #pending = ''
  #flushScheduled = false

  write(text: string): void {
    if (this.#sink === process.stdout && process.stdout.isTTY) return void this.#sink.write(text)
    this.#pending += text
    if (this.#pending.length >= FLUSH_AT) this.flush()
    else if (!this.#flushScheduled) {
      // Still written promptly: a streaming listing reaches its reader as it goes.
      this.#flushScheduled = true
      setImmediate(() => this.flush())
    }
  }

  /** Hands what is pending to the sink. */
  flush(): void {
    this.#flushScheduled = false
    if (this.#pending === '') return
    const text = this.#pending
    this.#pending = ''
    this.#sink.write(text)
  }

  line(text = ''): void {
    this.write(text + '\n')
  }

  startPager(enabled: boolean): void {
    if (!enabled || !process.stdout.isTTY || this.#pager) return
    const command = process.env.CKPT_PAGER ?? process.env.PAGER ?? 'less -FRX'
    if (command === '' || command === 'cat') return
    const pager = spawn(command, { shell: true, stdio: ['pipe', 'inherit', 'inherit'], env: { LESS: 'FRX', ...process.env } })
    pager.on('error', () => (this.#sink = process.stdout))
    pager.stdin?.on('error', () => undefined) // the user quit the pager early
    this.flush()
    this.#pager = pager
    this.#sink = pager.stdin as Writable
  }

  /** Waits for everything written to reach its destination (and for the pager to exit). */
  async finish(): Promise<void> {
    this.flush()
    const pager = this.#pager
    if (!pager) return
    pager.stdin?.end()
    await new Promise<void>((resolve) => pager.on('close', () => resolve()))
  }
}

export const out = new Output()

/** One JSON document per line (`--json`), dates as ISO strings. */
export function jsonLine(value: unknown): void {
  out.line(JSON.stringify(value, (_key, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v)))
}

/** A byte count for people: 1.5 KiB, 3.2 MiB. */
export function humanSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`
}

/** The last second {@link humanTime} formatted, and its text. */
let lastFormatted = { second: NaN, text: '' }

/** Time for people, in the local zone with its offset (`2026-12-05 10:32:38 +0100`, git's `--date=iso`); one format in every command. */
export function humanTime(date: Date): string {
  // A history written in a loop shares its seconds: `log` formats each second once in a row.
  const second = Math.floor(date.getTime() / 1000)
  if (second === lastFormatted.second) return lastFormatted.text
  const offset = -date.getTimezoneOffset()
  const two = (n: number) => String(n).padStart(2, '0')
  const zone = `${offset < 0 ? '-' : '+'}${two(Math.floor(Math.abs(offset) / 60))}${two(Math.abs(offset) % 60)}`
  const text = `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())} ${zone}`
  lastFormatted = { second, text }
  return text
}

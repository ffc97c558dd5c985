import type { Checkpoint } from '../src/index.js'

/** Colour only on a terminal, and never with NO_COLOR set (https://no-color.org). */
export function useColor(stream: NodeJS.WriteStream = process.stdout): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false
  if (process.env.FORCE_COLOR !== undefined && process.env.FORCE_COLOR !== '0') return true
  return stream.isTTY === true
}

export function paint(code: number, text: string, color = useColor()): string {
  return color ? `\u001b[${code}m${text}\u001b[0m` : text
}

export const yellow = (text: string) => paint(33, text)
export const dim = (text: string) => paint(2, text)

/** A checkpoint as one JSON line (`--json`): dates as ISO strings. */
export function checkpointJson(checkpoint: Checkpoint): string {
  return JSON.stringify({ ...checkpoint, time: checkpoint.time.toISOString() })
}

export function writeLine(text = ''): void {
  process.stdout.write(text + '\n')
}

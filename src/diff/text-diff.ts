import { matchSequences, type EditLimits } from './myers.js'

/** One hunk of a unified diff: lines prefixed with ' ', '-' or '+'. */
export interface TextHunk {
  readonly fromStart: number
  readonly fromLines: number
  readonly toStart: number
  readonly toLines: number
  readonly lines: readonly string[]
}

/**
 * The changed middle is aligned 2,000 removed plus added lines at a time (beyond that the result
 * may not be the shortest); after 20 million line comparisons the rest of it is shown as one
 * replacement.
 */
const ALIGNMENT_LIMITS: EditLimits = { maxEdits: 2000, maxComparisons: 20_000_000 }
const CONTEXT = 3

/** Bytes that read as UTF-8 text without NUL, or undefined for binary content. */
export function asText(bytes: Uint8Array): string | undefined {
  if (bytes.includes(0)) return undefined
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    return undefined
  }
}

/** A line diff of two texts as unified-diff hunks with three lines of context. */
export function diffLines(from: string, to: string): TextHunk[] {
  const a = splitLines(from)
  const b = splitLines(to)
  const ops = alignLines(a, b)
  return toHunks(ops)
}

type Op = { kind: ' ' | '-' | '+'; text: string; aIndex: number; bIndex: number }

function splitLines(text: string): string[] {
  if (text === '') return []
  const lines = text.split('\n')
  if (lines.at(-1) === '') lines.pop()
  return lines
}

function alignLines(a: string[], b: string[]): Op[] {
  let head = 0
  while (head < a.length && head < b.length && a[head] === b[head]) head++
  let tail = 0
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++
  const midA = a.slice(head, a.length - tail)
  const midB = b.slice(head, b.length - tail)
  const ops: Op[] = []
  for (let i = 0; i < head; i++) ops.push({ kind: ' ', text: a[i] as string, aIndex: i, bIndex: i })
  ops.push(...alignMiddle(midA, midB, head))
  for (let i = 0; i < tail; i++) {
    const ai = a.length - tail + i
    const bi = b.length - tail + i
    ops.push({ kind: ' ', text: a[ai] as string, aIndex: ai, bIndex: bi })
  }
  return ops
}

function alignMiddle(a: string[], b: string[], offset: number): Op[] {
  const ops: Op[] = []
  const runs = matchSequences(a.length, b.length, (i, j) => a[i] === b[j], ALIGNMENT_LIMITS)
  let i = 0
  let j = 0
  for (const run of [...runs, { from: a.length, to: b.length, length: 0 }]) {
    // Removals before additions, as unified diffs show them.
    for (; i < run.from; i++) ops.push({ kind: '-', text: a[i] as string, aIndex: offset + i, bIndex: offset + j })
    for (; j < run.to; j++) ops.push({ kind: '+', text: b[j] as string, aIndex: offset + i, bIndex: offset + j })
    for (let k = 0; k < run.length; k++, i++, j++) ops.push({ kind: ' ', text: a[i] as string, aIndex: offset + i, bIndex: offset + j })
  }
  return ops
}

function toHunks(ops: Op[]): TextHunk[] {
  const hunks: TextHunk[] = []
  let index = 0
  while (index < ops.length) {
    while (index < ops.length && ops[index]?.kind === ' ') index++
    if (index >= ops.length) break
    const start = Math.max(0, index - CONTEXT)
    let end = index
    let lastChange = index
    while (end < ops.length && end - lastChange <= CONTEXT * 2) {
      if (ops[end]?.kind !== ' ') lastChange = end
      end++
    }
    end = Math.min(ops.length, lastChange + CONTEXT + 1)
    const slice = ops.slice(start, end)
    const first = slice[0] as Op
    const fromLines = slice.filter((o) => o.kind !== '+').length
    const toLines = slice.filter((o) => o.kind !== '-').length
    hunks.push({
      fromStart: fromLines === 0 ? first.aIndex : first.aIndex + 1,
      fromLines,
      toStart: toLines === 0 ? first.bIndex : first.bIndex + 1,
      toLines,
      lines: slice.map((o) => o.kind + o.text),
    })
    index = end
  }
  return hunks
}

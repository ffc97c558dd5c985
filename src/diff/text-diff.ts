/** One hunk of a unified diff: lines prefixed with ' ', '-' or '+'. */
export interface TextHunk {
  readonly fromStart: number
  readonly fromLines: number
  readonly toStart: number
  readonly toLines: number
  readonly lines: readonly string[]
}

/** Above this many line-pair comparisons the changed middle is shown as one replacement. */
const MAX_ALIGNMENT_COST = 4_000_000
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
  if (a.length * b.length > MAX_ALIGNMENT_COST) {
    a.forEach((text, i) => ops.push({ kind: '-', text, aIndex: offset + i, bIndex: offset }))
    b.forEach((text, j) => ops.push({ kind: '+', text, aIndex: offset + a.length, bIndex: offset + j }))
    return ops
  }
  // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
  const lcs = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1))
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!)
    }
  }
  let i = 0
  let j = 0
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      ops.push({ kind: ' ', text: a[i] as string, aIndex: offset + i++, bIndex: offset + j++ })
    } else if (i < a.length && (j === b.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      // Removals before additions, as unified diffs show them.
      ops.push({ kind: '-', text: a[i] as string, aIndex: offset + i++, bIndex: offset + j })
    } else {
      ops.push({ kind: '+', text: b[j] as string, aIndex: offset + i, bIndex: offset + j++ })
    }
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

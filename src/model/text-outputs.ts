/*
 * Outputs that are JSON for programs and text for people: a log tail and a git working-tree
 * diff. `cat`, `show` and `diff` render them as text (renderTextOutput); their JSON stays whole.
 */

/** One line of a log tail. */
export interface LogTailLine {
  readonly seq: number
  readonly source: string
  readonly text: string
  readonly time?: number
}

/** The last lines of several merged logs, in sequence order. */
export interface LogTail {
  readonly type: 'ckpt-log-tail'
  readonly lines: readonly LogTailLine[]
  /** Whether earlier lines were dropped to keep `keep`. */
  readonly truncated: boolean
  /** Lines given in all. */
  readonly total: number
}

/** What `ckpt commit --git-diff` records: a git working tree against a base commit. */
export interface GitDiff {
  readonly type: 'ckpt-git-diff'
  /** The base as given (`HEAD`, a branch) and the commit it named. */
  readonly base: string
  readonly commit: string
  /** Unified diff of tracked and untracked files (git's own format). */
  readonly diff: string
  readonly stat: {
    readonly files: ReadonlyArray<{ readonly path: string; readonly added: number; readonly removed: number; readonly binary: boolean }>
    readonly insertions: number
    readonly deletions: number
  }
}

/**
 * A log tail: `entries` from any number of sources merged by their sequence number (entries
 * without one keep their order after those with one), the last `keep` kept.
 */
export function logTail(entries: ReadonlyArray<{ readonly source: string; readonly text: string; readonly seq?: number; readonly time?: number }>, options: { readonly keep?: number } = {}): LogTail {
  const keep = Math.max(0, Math.floor(options.keep ?? 200))
  const numbered = entries.map((e, i) => ({ ...e, order: i }))
  numbered.sort((a, b) => (a.seq ?? Infinity) - (b.seq ?? Infinity) || a.order - b.order)
  const lines = numbered.map((e, i) => ({ seq: e.seq ?? i + 1, source: e.source, text: e.text, ...(e.time !== undefined && { time: e.time }) }))
  const kept = keep === 0 ? [] : lines.slice(-keep)
  return { type: 'ckpt-log-tail', lines: kept, truncated: kept.length < lines.length, total: lines.length }
}

/** The text a person reads for an output of these kinds; undefined for any other value. */
export function renderTextOutput(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const typed = value as { type?: unknown }
  if (typed.type === 'ckpt-log-tail') {
    const tail = value as LogTail
    if (!Array.isArray(tail.lines)) return undefined
    const dropped = tail.truncated ? `… ${tail.total - tail.lines.length} earlier lines dropped\n` : ''
    return dropped + tail.lines.map((l) => `[${l.source}] ${l.text}\n`).join('')
  }
  if (typed.type === 'ckpt-git-diff') {
    const diff = value as GitDiff
    if (typeof diff.diff !== 'string' || !Array.isArray(diff.stat?.files)) return undefined
    const width = Math.max(0, ...diff.stat.files.map((f) => f.path.length))
    const stat = diff.stat.files.map((f) => ` ${f.path.padEnd(width)} | ${f.binary ? 'Bin' : `+${f.added} -${f.removed}`}\n`).join('')
    const summary = ` ${diff.stat.files.length} files changed, ${diff.stat.insertions} insertions(+), ${diff.stat.deletions} deletions(-)\n`
    return `against ${diff.base} (${diff.commit.slice(0, 12)})\n${stat}${summary}\n${diff.diff}`
  }
  return undefined
}

import type { Checkpoint, CheckpointSummary, HeadInfo } from '../src/index.js'
import { bold, cyan, dim, green, humanTime, yellow } from './output.js'

/** A checkpoint as `--json` prints it (docs/cli.md): the API object with an ISO time. */
export function checkpointJson(checkpoint: Checkpoint): Record<string, unknown> {
  return { ...checkpoint, time: checkpoint.time.toISOString() }
}

/** Names pointing at each checkpoint id, for log decorations like git's `(HEAD -> main, tag: v1)`. */
export type Decorations = Map<string, string[]>

export function decorationsFor(head: HeadInfo, timelines: Array<{ name: string; head: string }>, tags: Array<{ name: string; target: string }>): Decorations {
  const map: Decorations = new Map()
  const add = (id: string, label: string) => map.set(id, [...(map.get(id) ?? []), label])
  if (head.detached && head.checkpoint) add(head.checkpoint, 'HEAD')
  for (const t of timelines) add(t.head, head.timeline === t.name ? `HEAD -> ${t.name}` : t.name)
  for (const t of tags) add(t.target, `tag: ${t.name}`)
  return map
}

export function decoration(decorations: Decorations, id: string): string {
  const names = decorations.get(id)
  return names ? ` (${names.map((n) => (n.startsWith('HEAD') ? bold(cyan(n)) : n.startsWith('tag:') ? yellow(n) : green(n))).join(', ')})` : ''
}

/** What `log` says where retention dropped a checkpoint's parents. */
export const HISTORY_CUT = 'history cut here: older checkpoints were dropped by retention'

const escapeChar = (char: string) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`

/**
 * An id as text for a terminal: control characters escaped as in JSON (`\u001b`), so an id
 * written before ids were checked can neither hide itself nor drive the terminal.
 */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, escapeChar)
}

/**
 * A line of free text (a message line, an author) for a terminal: like {@link printable}, but
 * tabs stay. Messages arrive in imported data too, so none may drive the terminal.
 */
export function printableLine(text: string): string {
  return text.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g, escapeChar)
}

export function onelineText(c: CheckpointSummary, decorations: Decorations): string {
  const cut = c.historyCut ? dim(` (${HISTORY_CUT})`) : ''
  // Like git's --oneline: the message's first line.
  const subject = c.message ? ' ' + printableLine(c.message.split('\n')[0]!) : ''
  return `${yellow(c.shortId)}${decoration(decorations, c.id)} ${c.stage ?? '-'}${c.run ? dim(` [${printable(c.run)}]`) : ''}${subject}${cut}`
}

/** git's medium format. `shortIdOf` comes from the library, loaded by the caller. */
export function longText(c: CheckpointSummary, decorations: Decorations, shortIdOf: (id: string) => string): string[] {
  const lines = [yellow(`checkpoint ${c.id}`) + decoration(decorations, c.id)]
  if (c.parents.length > 1) lines.push(`Merge:  ${c.parents.map((p) => shortIdOf(p)).join(' ')}`)
  lines.push(`Seq:    #${c.seq}`)
  lines.push(`Stage:  ${c.stage ?? '-'}${c.run ? `   Run: ${printable(c.run)}` : ''}${c.job ? `   Job: ${printable(c.job)}` : ''}`)
  lines.push(`Author: ${printableLine(c.author)}`)
  lines.push(`Date:   ${humanTime(c.time)}`)
  if (c.message) lines.push('', ...c.message.split('\n').map((l) => `    ${printableLine(l)}`))
  if (c.historyCut) lines.push('', dim(`    (${HISTORY_CUT})`))
  lines.push('')
  return lines
}

/** "3 hours ago", like git's `%ar`. */
export function relativeTime(date: Date, now = Date.now()): string {
  const seconds = Math.round((now - date.getTime()) / 1000)
  if (seconds < 0) return 'in the future'
  const steps: Array<[number, string]> = [[60, 'second'], [60, 'minute'], [24, 'hour'], [30, 'day'], [12, 'month'], [Infinity, 'year']]
  let value = seconds
  for (const [size, unit] of steps) {
    if (value < size) return `${value} ${unit}${value === 1 ? '' : 's'} ago`
    value = Math.floor(value / size)
  }
  return `${value} years ago`
}

/**
 * A checkpoint through a `--format` template: git's placeholders where they mean the same
 * (%H %h %s %b %an %ad %ai %ar %d %D %p %P %n %%), and %S stage, %r run, %j job, %N sequence
 * number. An unknown placeholder is printed as it is, as git does.
 */
export function formatCheckpoint(template: string, c: CheckpointSummary, decorations: Decorations, shortIdOf: (id: string) => string): string {
  const [subject = '', ...body] = c.message.split('\n')
  const names = decorations.get(c.id) ?? []
  const fields: Record<string, () => string> = {
    H: () => c.id,
    h: () => c.shortId,
    s: () => printableLine(subject),
    b: () => printableLine(body.join('\n').trim()),
    an: () => printableLine(c.author),
    ad: () => humanTime(c.time),
    ai: () => c.time.toISOString(),
    ar: () => relativeTime(c.time),
    d: () => decoration(decorations, c.id),
    D: () => names.join(', '),
    p: () => c.parents.map(shortIdOf).join(' '),
    P: () => c.parents.join(' '),
    S: () => c.stage ?? '-',
    r: () => printable(c.run ?? ''),
    j: () => printable(c.job ?? ''),
    N: () => String(c.seq),
    n: () => '\n',
    '%': () => '%',
  }
  return template.replace(/%(an|ad|ai|ar|[HhsbdDpPSrjNn%])/g, (whole, key: string) => fields[key]?.() ?? whole)
}

import type { DiffResult, StageDiff } from '../src/index.js'
import { bold, cyan, green, humanSize, red } from './output.js'

const STATUS_MARK = { added: 'A', removed: 'D', changed: 'M', unchanged: ' ' } as const

/** The lines of a diff as `ckpt diff` prints it: the summary, a line per changed stage, then each stage's detail (or, with `statOnly`, counts). */
export function diffText(result: DiffResult, statOnly: boolean): string[] {
  const lines: string[] = []
  const { added, removed, changed, unchanged } = result.summary
  lines.push(bold(`${changed} changed, ${added} added, ${removed} removed, ${unchanged} unchanged`))
  const changedStages = result.stages.filter((s) => s.status !== 'unchanged')
  for (const s of changedStages) {
    const detail = statOnly ? statText(s) : ''
    const mark = STATUS_MARK[s.status]
    const colored = s.status === 'added' ? green(mark) : s.status === 'removed' ? red(mark) : cyan(mark)
    lines.push(`${colored} ${s.stage}${detail}`)
  }
  if (statOnly) return lines
  for (const s of changedStages.filter((x) => x.status === 'changed')) {
    lines.push('')
    lines.push(bold(`${s.stage} (${s.kind})`))
    // A JSON output read as text (a log tail, a git diff) shows its line diff, not its JSON paths.
    const textual = s.kind === 'json' && s.hunks !== undefined
    for (const change of textual ? [] : (s.changes ?? [])) {
      if (change.op === 'replace') lines.push(`  ${change.path || '/'}  ${red(show(change.oldValue))} → ${green(show(change.value))}`)
      else if (change.op === 'add') lines.push(green(`+ ${change.path}  ${show(change.value)}`))
      else lines.push(red(`- ${change.path}  ${show(change.oldValue)}`))
    }
    if (s.size) lines.push(`  size ${humanSize(s.size.from)} → ${humanSize(s.size.to)}, id ${s.from} → ${s.to}`)
    for (const hunk of s.hunks ?? []) {
      lines.push(cyan(`@@ -${hunk.fromStart},${hunk.fromLines} +${hunk.toStart},${hunk.toLines} @@`))
      for (const line of hunk.lines) lines.push(line.startsWith('+') ? green(line) : line.startsWith('-') ? red(line) : line)
    }
    if (s.kind === 'mixed') lines.push(`  kind changed, id ${s.from} → ${s.to}`)
  }
  return lines
}

/** `--stat` counts: JSON paths added, removed and replaced; text lines; sizes; an added or removed stage's kind. */
function statText(s: StageDiff): string {
  if (s.status === 'added' || s.status === 'removed') return `  (${s.kind}, ${s.status})`
  if (s.status !== 'changed') return ''
  const parts: string[] = []
  if (s.changes && !(s.kind === 'json' && s.hunks)) {
    const count = (op: string) => s.changes?.filter((c) => c.op === op).length ?? 0
    const noun = s.kind === 'tree' ? 'file' : 'path'
    parts.push(`${s.changes.length} ${noun}${s.changes.length === 1 ? '' : 's'} (${green(`+${count('add')}`)} ${red(`-${count('remove')}`)} ~${count('replace')})`)
  }
  if (s.hunks) {
    const lines = s.hunks.flatMap((h) => h.lines)
    parts.push(`${green(`+${lines.filter((l) => l.startsWith('+')).length}`)} ${red(`-${lines.filter((l) => l.startsWith('-')).length}`)} lines`)
  }
  if (s.size) parts.push(`${humanSize(s.size.from)} → ${humanSize(s.size.to)}`)
  if (s.kind === 'mixed') parts.push('kind changed')
  return parts.length > 0 ? `  ${parts.join(', ')}` : ''
}

function show(value: unknown): string {
  const text = JSON.stringify(value)
  return text.length > 120 ? text.slice(0, 117) + '…' : text
}

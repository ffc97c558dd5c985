import type { Argv } from 'yargs'
import type { DiffResult, StageDiff } from '../../src/index.js'
import { bold, cyan, green, humanSize, jsonLine, out, red } from '../output.js'
import { library, withStore } from '../store.js'

interface Args {
  store?: string
  pager?: boolean
  from: string
  to?: string
  stat?: boolean
  nameOnly?: boolean
  stage?: string[]
  json?: boolean
  exitCode?: boolean
}

/** Exit status of `--exit-code` when the checkpoints differ, as in `git diff --exit-code`. */
export const DIFFERENT_EXIT = 1

export const diffCommand = {
  command: 'diff <from> [to]',
  describe: 'Compare two checkpoints stage by stage, with JSON paths and text lines that changed',
  builder: (y: Argv) =>
    y
      .positional('from', { type: 'string', demandOption: true, describe: 'A, or A..B' })
      .positional('to', { type: 'string', describe: 'B (default HEAD)' })
      .option('stat', { type: 'boolean', describe: 'Only counts per stage' })
      .option('name-only', { type: 'boolean', describe: 'Only the names of changed stages' })
      .option('stage', { type: 'string', array: true, describe: 'Only these stages (repeatable)' })
      .option('json', { type: 'boolean', describe: 'The whole result as JSON (schema in docs/cli.md)' })
      .option('exit-code', { type: 'boolean', describe: 'Exit 1 when the checkpoints differ, 0 when not' })
      .example('$0 diff main experiment', 'what the experiment timeline changed')
      .example('$0 diff main~1', 'main~1 against HEAD')
      .example('$0 diff v1..v2 --stage detect', 'one stage between two tags')
      .example('$0 diff a b --exit-code --name-only', 'for scripts: list changed stages, exit 1 if any'),
  handler: async (args: Args) => {
    const { CkptError } = await library()
    let [from, to] = [args.from, args.to ?? 'HEAD']
    if (args.from.includes('..')) {
      if (args.to !== undefined) throw new CkptError('INVALID_ARGUMENT', 'give either A..B or A B, not both')
      const [a = '', b = ''] = args.from.split('..')
      ;[from, to] = [a || 'HEAD', b || 'HEAD']
    }
    const result = await withStore(args, (store) =>
      store.diff(from, to, { paths: !args.stat && !args.nameOnly, ...(args.stage && { stages: args.stage }) }),
    )
    if (args.json) jsonLine(result)
    else {
      out.startPager(args.pager !== false && !args.nameOnly)
      if (args.nameOnly) result.stages.filter((s) => s.status !== 'unchanged').forEach((s) => out.line(s.stage))
      else printDiff(result, args.stat === true)
    }
    const different = result.summary.added + result.summary.removed + result.summary.changed > 0
    if (args.exitCode && different) process.exitCode = DIFFERENT_EXIT
  },
}

const STATUS_MARK = { added: 'A', removed: 'D', changed: 'M', unchanged: ' ' } as const

function printDiff(result: DiffResult, statOnly: boolean): void {
  const { added, removed, changed, unchanged } = result.summary
  out.line(bold(`${changed} changed, ${added} added, ${removed} removed, ${unchanged} unchanged`))
  const changedStages = result.stages.filter((s) => s.status !== 'unchanged')
  for (const s of changedStages) {
    const detail = statOnly ? statText(s) : ''
    const mark = STATUS_MARK[s.status]
    const colored = s.status === 'added' ? green(mark) : s.status === 'removed' ? red(mark) : cyan(mark)
    out.line(`${colored} ${s.stage}${detail}`)
  }
  if (statOnly) return
  for (const s of changedStages.filter((x) => x.status === 'changed')) {
    out.line('')
    out.line(bold(`${s.stage} (${s.kind})`))
    // A JSON output read as text (a log tail, a git diff) shows its line diff, not its JSON paths.
    const textual = s.kind === 'json' && s.hunks !== undefined
    for (const change of textual ? [] : (s.changes ?? [])) {
      if (change.op === 'replace') out.line(`  ${change.path || '/'}  ${red(show(change.oldValue))} → ${green(show(change.value))}`)
      else if (change.op === 'add') out.line(green(`+ ${change.path}  ${show(change.value)}`))
      else out.line(red(`- ${change.path}  ${show(change.oldValue)}`))
    }
    if (s.size) out.line(`  size ${humanSize(s.size.from)} → ${humanSize(s.size.to)}, id ${s.from} → ${s.to}`)
    for (const hunk of s.hunks ?? []) {
      out.line(cyan(`@@ -${hunk.fromStart},${hunk.fromLines} +${hunk.toStart},${hunk.toLines} @@`))
      for (const line of hunk.lines) out.line(line.startsWith('+') ? green(line) : line.startsWith('-') ? red(line) : line)
    }
    if (s.kind === 'mixed') out.line(`  kind changed, id ${s.from} → ${s.to}`)
  }
}

function statText(s: StageDiff): string {
  if (s.status !== 'changed') return ''
  if (s.size) return `  ${humanSize(s.size.from)} → ${humanSize(s.size.to)}`
  return ''
}

function show(value: unknown): string {
  const text = JSON.stringify(value)
  return text.length > 120 ? text.slice(0, 117) + '…' : text
}

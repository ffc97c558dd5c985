import type { Argv } from 'yargs'
import { diffText } from '../diff-text.js'
import { jsonLine, out } from '../output.js'
import { library, withStore } from '../store.js'

interface Args {
  store?: string
  pager?: boolean
  from: string
  to?: string
  stat?: boolean
  nameOnly?: boolean
  stage?: string[]
  '--'?: string[]
  json?: boolean
  exitCode?: boolean
}

/** Exit status of `--exit-code` when the checkpoints differ, as in `git diff --exit-code`. */
export const DIFFERENT_EXIT = 1

export const diffCommand = {
  command: 'diff <from> [to]',
  describe: 'Compare two checkpoints stage by stage (or two stage outputs, A:STAGE B:STAGE), with JSON paths and text lines that changed',
  builder: (y: Argv) =>
    y
      .positional('from', { type: 'string', demandOption: true, describe: 'A, or A..B, or A:STAGE' })
      .positional('to', { type: 'string', describe: 'B (default HEAD), or B:STAGE' })
      .option('stat', { type: 'boolean', describe: 'Counts per stage: JSON paths added/removed/replaced, text lines, sizes' })
      .option('name-only', { type: 'boolean', describe: 'Only the names of changed stages' })
      .option('stage', { type: 'string', array: true, describe: 'Only these stages (repeatable)' })
      .option('json', { type: 'boolean', describe: 'The whole result as JSON (schema in docs/cli.md)' })
      .option('exit-code', { type: 'boolean', describe: 'Exit 1 when the checkpoints differ, 0 when not' })
      .example('$0 diff main experiment', 'what the experiment timeline changed')
      .example('$0 diff main~1', 'main~1 against HEAD')
      .example('$0 diff v1..v2 --stage detect', 'one stage between two tags')
      .example('$0 diff main strict -- report', 'the same, git style: stages after --')
      .example('$0 diff main~3:detect strict:detect', 'two outputs of one stage, from any checkpoints')
      .example('$0 diff main strict --stat', 'how much changed in each stage')
      .example('$0 diff a b --exit-code --name-only', 'for scripts: list changed stages, exit 1 if any'),
  handler: async (args: Args) => {
    const { CkptError } = await library()
    let [from, to] = [args.from, args.to ?? 'HEAD']
    if (args.from.includes('..')) {
      if (args.to !== undefined) throw new CkptError('INVALID_ARGUMENT', 'give either A..B or A B, not both')
      const [a = '', b = ''] = args.from.split('..')
      ;[from, to] = [a || 'HEAD', b || 'HEAD']
    }
    // `diff main~1:detect`: against the same stage at HEAD, as `diff main~1` is against HEAD.
    if (args.to === undefined && !args.from.includes('..') && from.includes(':')) to = `HEAD${from.slice(from.indexOf(':'))}`
    const stages = [...(args.stage ?? []), ...(args['--'] ?? []).map(String)]
    const result = await withStore(args, (store) => store.diff(from, to, { paths: !args.nameOnly, ...(stages.length > 0 && { stages }) }))
    if (args.json) jsonLine(result)
    else {
      out.startPager(args.pager !== false && !args.nameOnly)
      if (args.nameOnly) result.stages.filter((s) => s.status !== 'unchanged').forEach((s) => out.line(s.stage))
      else diffText(result, args.stat === true).forEach((l) => out.line(l))
    }
    const different = result.summary.added + result.summary.removed + result.summary.changed > 0
    if (args.exitCode && different) process.exitCode = DIFFERENT_EXIT
  },
}


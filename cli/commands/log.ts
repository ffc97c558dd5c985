import type { Argv } from 'yargs'
import type { Checkpoint, CheckpointSummary, LogOptions, Store } from '../../src/index.js'
import { diffText } from '../diff-text.js'
import { timeOption } from '../duration.js'
import { checkpointJson, decorationsFor, formatCheckpoint, longText, onelineText, type Decorations } from '../format.js'
import { GraphRenderer } from '../graph.js'
import { dim, jsonLine, out } from '../output.js'
import { library, parseKeyValues, withStore } from '../store.js'

interface Args {
  store?: string
  pager?: boolean
  rev?: string[]
  n?: number
  oneline?: boolean
  graph?: boolean
  patch?: boolean
  stat?: boolean
  format?: string
  reverse?: boolean
  stage?: string
  run?: string
  job?: string
  author?: string
  meta?: string[]
  since?: string
  until?: string
  firstParent?: boolean
  all?: boolean
  json?: boolean
  '--'?: string[]
}

export const logCommand = {
  command: 'log [rev..]',
  describe: 'Show history, newest first',
  builder: (y: Argv) =>
    y
      .positional('rev', { type: 'string', array: true, describe: 'Revisions to start from (default HEAD)' })
      .option('n', { alias: 'max-count', type: 'number', describe: 'Show at most N checkpoints (also -N, e.g. -3)' })
      .option('oneline', { type: 'boolean', describe: 'One line per checkpoint' })
      .option('graph', { type: 'boolean', describe: 'Draw forks and merges' })
      .option('patch', { alias: 'p', type: 'boolean', describe: "Each checkpoint's diff against its first parent" })
      .option('stat', { type: 'boolean', describe: "Each checkpoint's changed stages with counts" })
      .option('format', { alias: 'pretty', type: 'string', describe: 'oneline, medium, or a template: %H %h id, %s subject, %an author, %ad %ai date, %ar age, %S stage, %r run, %j job, %d names, %p parents, %n newline' })
      .option('reverse', { type: 'boolean', describe: 'Oldest first' })
      .option('stage', { type: 'string', describe: 'Only checkpoints recorded by this stage (-- STAGE: where a stage changed)' })
      .option('run', { type: 'string', describe: 'Only checkpoints of this run' })
      .option('job', { type: 'string', describe: 'Only checkpoints of this job' })
      .option('author', { type: 'string', describe: 'Only checkpoints whose author contains this text' })
      .option('meta', { type: 'string', array: true, describe: 'Only checkpoints whose meta has KEY=VALUE (repeat for several)' })
      .option('since', { alias: 'after', type: 'string', describe: "Only checkpoints at or after this date or age ('2 days ago', 12h, 2026-11-22)" })
      .option('until', { alias: 'before', type: 'string', describe: 'Only checkpoints at or before this date or age' })
      .option('first-parent', { type: 'boolean', describe: 'Follow only first parents' })
      .option('all', { type: 'boolean', describe: 'Start from every timeline and tag' })
      .option('json', { type: 'boolean', describe: 'One JSON object per line (NDJSON), streamed' })
      .check((args) => {
        if (args.reverse && args.graph) throw new Error('--reverse and --graph cannot be used together')
        return true
      })
      .example('$0 log', 'history of the timeline HEAD is on')
      .example('$0 log experiment -3 --oneline', 'the last three checkpoints of a timeline')
      .example('$0 log --graph --all --oneline', 'every timeline, with forks and merges drawn')
      .example('$0 log -p -- detect', 'every change of the detect stage, with its diff')
      .example('$0 log --stat --since "2 days ago"', 'what changed lately, stage by stage')
      .example("$0 log --format '%h %S %an %ar'", 'your own one-line format')
      .example('$0 log --run r42 --stage detect', "one run's checkpoints of one stage")
      .example('$0 log main --json | jq -r .id', 'for scripts'),
  handler: async (args: Args) => {
    await withStore(args, async (store) => {
      const [head, timelines, tags] = await Promise.all([store.head(), store.timelines.list(), store.tags.list()])
      const starts = args.all ? [...timelines.map((t) => `timelines/${t.name}`), ...tags.map((t) => `tags/${t.name}`)] : args.rev?.length ? args.rev : ['HEAD']
      if (args.all && head.detached && head.checkpoint) starts.push(head.checkpoint)
      if (starts.length === 0 || (!args.rev?.length && !args.all && head.checkpoint === undefined)) {
        // An empty store (or a timeline not yet committed to): nothing to show is not an error.
        if (!args.json) process.stderr.write(`${head.timeline ? `timeline ${head.timeline} has` : 'the store has'} no checkpoints yet; record one with ckpt commit\n`)
        return
      }
      const options = await logOptions(args)
      if (args.json) {
        const history = store.log(starts, options)
        for await (const c of args.reverse ? reversed(history) : history) jsonLine(checkpointJson(c))
        return
      }
      // Only a diff needs each checkpoint's outputs; the headers come from history segments.
      const withOutputs = args.patch === true || args.stat === true
      const walked: AsyncIterable<CheckpointSummary | Checkpoint> = withOutputs ? store.log(starts, options) : store.history(starts, options)
      const history = args.reverse ? reversed(walked) : walked
      out.startPager(args.pager !== false)
      const { shortIdOf } = await library()
      const decorations = decorationsFor(head, timelines, tags)
      const graph = args.graph ? new GraphRenderer() : undefined
      const render = renderer(args, decorations, shortIdOf)
      for await (const c of history) {
        const lines = withOutputs && 'kinds' in c ? [...render(c), ...(await changeLines(store, c, args.stat === true && !args.patch))] : render(c)
        if (graph) {
          // Dropped parents are not drawn: the graph ends where history was cut.
          const parents = c.historyCut ? [] : args.firstParent ? c.parents.slice(0, 1) : c.parents
          for (const line of graph.row(c.id, parents, lines[0] ?? '', lines.slice(1))) out.line(line)
        } else {
          for (const line of lines) out.line(line)
        }
      }
    })
  },
}

/** The library's filters from the flags; dates and ages checked before anything is read. */
async function logOptions(args: Args): Promise<LogOptions> {
  const meta = args.meta?.length ? await parseKeyValues(args.meta, '--meta') : undefined
  const since = args.since === undefined ? undefined : await timeOption('--since', args.since)
  const until = args.until === undefined ? undefined : await timeOption('--until', args.until)
  const changed = (args['--'] ?? []).map(String)
  return {
    ...(args.n !== undefined && { limit: args.n }),
    ...(args.firstParent && { firstParent: true }),
    ...(args.stage !== undefined && { stage: args.stage }),
    ...(args.run !== undefined && { run: args.run }),
    ...(args.job !== undefined && { job: args.job }),
    ...(args.author !== undefined && { author: args.author }),
    ...(meta !== undefined && { meta }),
    ...(since !== undefined && { since }),
    ...(until !== undefined && { until }),
    ...(changed.length > 0 && { changed }),
  }
}

function renderer(args: Args, decorations: Decorations, shortIdOf: (id: string) => string): (c: CheckpointSummary) => string[] {
  const format = args.oneline ? 'oneline' : (args.format ?? 'medium')
  if (format === 'oneline') return (c) => [onelineText(c, decorations)]
  if (format === 'medium') return (c) => longText(c, decorations, shortIdOf)
  const template = format.replace(/^(format|tformat):/, '')
  return (c) => formatCheckpoint(template, c, decorations, shortIdOf).split('\n')
}

/** `-p`/`--stat`: the checkpoint's diff against its first parent (every stage added, for a first checkpoint). */
async function changeLines(store: Store, c: Checkpoint, statOnly: boolean): Promise<string[]> {
  const lines: string[] = []
  const parent = c.historyCut ? undefined : c.parents[0]
  if (parent === undefined) {
    for (const [stage, kind] of Object.entries(c.kinds)) lines.push(`A ${stage}${statOnly ? dim(`  (${kind}, added)`) : ''}`)
  } else {
    const diff = await store.diff(parent, c.id)
    lines.push(...diffText(diff, statOnly).slice(1))
  }
  return [...lines, '']
}

async function* reversed<T>(history: AsyncIterable<T>): AsyncIterable<T> {
  const all: T[] = []
  for await (const c of history) all.push(c)
  yield* all.reverse()
}

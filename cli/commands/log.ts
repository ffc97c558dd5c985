import type { Argv } from 'yargs'
import { checkpointJson, decorationsFor, longText, onelineText } from '../format.js'
import { GraphRenderer } from '../graph.js'
import { jsonLine, out } from '../output.js'
import { library, parseKeyValues, withStore } from '../store.js'

interface Args {
  store?: string
  pager?: boolean
  rev?: string[]
  n?: number
  oneline?: boolean
  graph?: boolean
  stage?: string
  run?: string
  job?: string
  meta?: string[]
  since?: string
  until?: string
  firstParent?: boolean
  all?: boolean
  json?: boolean
}

export const logCommand = {
  command: 'log [rev..]',
  describe: 'Show history, newest first',
  builder: (y: Argv) =>
    y
      .positional('rev', { type: 'string', array: true, describe: 'Revisions to start from (default HEAD)' })
      .option('n', { alias: 'max-count', type: 'number', describe: 'Show at most N checkpoints' })
      .option('oneline', { type: 'boolean', describe: 'One line per checkpoint' })
      .option('graph', { type: 'boolean', describe: 'Draw forks and merges' })
      .option('stage', { type: 'string', describe: 'Only checkpoints recorded by this stage' })
      .option('run', { type: 'string', describe: 'Only checkpoints of this run' })
      .option('job', { type: 'string', describe: 'Only checkpoints of this job' })
      .option('meta', { type: 'string', array: true, describe: 'Only checkpoints whose meta has KEY=VALUE (repeat for several)' })
      .option('since', { type: 'string', describe: 'Only checkpoints at or after this date (ISO 8601)' })
      .option('until', { type: 'string', describe: 'Only checkpoints at or before this date' })
      .option('first-parent', { type: 'boolean', describe: 'Follow only first parents' })
      .option('all', { type: 'boolean', describe: 'Start from every timeline and tag' })
      .option('json', { type: 'boolean', describe: 'One JSON object per line (NDJSON), streamed' })
      .example('$0 log', 'history of the timeline HEAD is on')
      .example('$0 log experiment -n 5 --oneline', 'the last five checkpoints of a timeline')
      .example('$0 log --graph --all --oneline', 'every timeline, with forks and merges drawn')
      .example('$0 log --run r42 --stage detect', "one run's checkpoints of one stage")
      .example('$0 log --job video-17 --meta pipeline=video', "a job's checkpoints of one pipeline")
      .example('$0 log main --json | jq -r .id', 'for scripts'),
  handler: async (args: Args) => {
    await withStore(args, async (store) => {
      const { CkptError, shortIdOf } = await library()
      const date = (text: string | undefined, flag: string) => {
        if (text === undefined) return undefined
        const ms = Date.parse(text)
        if (Number.isNaN(ms)) throw new CkptError('INVALID_ARGUMENT', `--${flag} ${text}: not a date (use ISO 8601, e.g. 2026-11-22 or 2026-11-22T10:00Z)`)
        return ms
      }
      const [head, timelines, tags] = await Promise.all([store.head(), store.timelines.list(), store.tags.list()])
      const starts = args.all ? [...timelines.map((t) => `timelines/${t.name}`), ...tags.map((t) => `tags/${t.name}`)] : args.rev?.length ? args.rev : ['HEAD']
      if (args.all && head.detached && head.checkpoint) starts.push(head.checkpoint)
      const meta = args.meta?.length ? await parseKeyValues(args.meta, '--meta') : undefined
      const since = date(args.since, 'since')
      const until = date(args.until, 'until')
      const history = store.log(starts, {
        ...(args.n !== undefined && { limit: args.n }),
        ...(args.firstParent && { firstParent: true }),
        ...(args.stage !== undefined && { stage: args.stage }),
        ...(args.run !== undefined && { run: args.run }),
        ...(args.job !== undefined && { job: args.job }),
        ...(meta !== undefined && { meta }),
        ...(since !== undefined && { since }),
        ...(until !== undefined && { until }),
      })
      if (args.json) {
        for await (const c of history) jsonLine(checkpointJson(c))
        return
      }
      out.startPager(args.pager !== false)
      const decorations = decorationsFor(head, timelines, tags)
      const graph = args.graph ? new GraphRenderer() : undefined
      for await (const c of history) {
        const lines = args.oneline ? [onelineText(c, decorations)] : longText(c, decorations, shortIdOf)
        if (!graph) {
          lines.forEach((l) => out.line(l))
          continue
        }
        // Dropped parents are not drawn: the graph ends where history was cut.
        const parents = c.historyCut ? [] : args.firstParent ? c.parents.slice(0, 1) : c.parents
        const [first = '', ...rest] = lines
        graph.row(c.id, parents, first, rest).forEach((l) => out.line(l))
      }
    })
  },
}

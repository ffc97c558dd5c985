import type { Argv } from 'yargs'
import { ageOption } from '../duration.js'
import { dim, humanTime, jsonLine, out, yellow } from '../output.js'
import { library, withStore } from '../store.js'

interface Args {
  store?: string
  ref: string
  refs?: string[]
  n?: number
  expire?: string
  json?: boolean
  '--'?: string[]
}

export const reflogCommand = {
  command: 'reflog [ref] [refs..]',
  describe: 'Show every move of a timeline, tag or HEAD, newest first; `reflog expire` forgets old entries',
  builder: (y: Argv) =>
    y
      .positional('ref', { type: 'string', default: 'HEAD', describe: 'Timeline, tag or HEAD; or `expire`' })
      .positional('refs', { type: 'string', array: true, describe: 'With expire: the refs to expire (default: all)' })
      .option('n', { type: 'number', describe: 'Show at most N entries' })
      .option('expire', { type: 'string', default: '90d', describe: 'With expire: drop entries older than this (now, 90d, 2.weeks.ago, a date)' })
      .option('json', { type: 'boolean', describe: 'One JSON object per line' })
      .example('$0 reflog main', 'where main has pointed, as main@{0}, main@{1}, …')
      .example('$0 checkout main@{3}', 'go back to one of those')
      .example('$0 reflog expire --expire=30d', 'forget entries older than 30 days, in every reflog')
      .example('$0 reflog expire --expire=now old-experiment', 'forget a deleted timeline for good (gc then frees it)'),
  handler: async (args: Args) => {
    const { shortIdOf, CkptError } = await library()
    if (args.ref === 'expire') {
      const age = await ageOption('--expire', args.expire ?? '90d')
      return withStore(args, async (store) => {
        const named = [...(args.refs ?? []), ...(args['--'] ?? []).map(String)]
        const refs = named.length > 0 ? named : undefined
        const result = await store.expireReflogs({ before: Date.now() - age, ...(refs && { refs }) })
        if (args.json) jsonLine(result)
        else out.line(`expired ${result.entries} reflog entries in ${result.refs} reflog(s)`)
      })
    }
    const extra = [...(args.refs ?? []), ...(args['--'] ?? []).map(String)]
    if (extra.length > 0) throw new CkptError('INVALID_ARGUMENT', `reflog shows one ref at a time; got ${[args.ref, ...extra].join(', ')}`)
    await withStore(args, async (store) => {
      const entries = await store.reflog(args.ref, args.n === undefined ? {} : { limit: args.n })
      for (const e of entries) {
        if (args.json) {
          jsonLine({ ...e, time: e.time.toISOString() })
          continue
        }
        const target = e.new === null ? '(deleted)' : e.checkpoint !== null ? shortIdOf(e.checkpoint) : e.new.replace(/^ref: (timelines\/)?/, '')
        out.line(`${yellow(target)} ${args.ref}@{${e.index}}: ${e.reason} ${dim(humanTime(e.time))}`)
      }
    })
  },
}

import type { Argv } from 'yargs'
import { dim, jsonLine, out, yellow } from '../output.js'
import { library, withStore } from '../store.js'

interface Args {
  store?: string
  ref: string
  n?: number
  json?: boolean
}

export const reflogCommand = {
  command: 'reflog [ref]',
  describe: 'Show every move of a timeline, tag or HEAD, newest first',
  builder: (y: Argv) =>
    y
      .positional('ref', { type: 'string', default: 'HEAD', describe: 'Timeline, tag or HEAD' })
      .option('n', { type: 'number', describe: 'Show at most N entries' })
      .option('json', { type: 'boolean', describe: 'One JSON object per line' })
      .example('$0 reflog main', 'where main has pointed, as main@{0}, main@{1}, …')
      .example('$0 checkout main@{3}', 'go back to one of those'),
  handler: async (args: Args) => {
    const { shortIdOf } = await library()
    await withStore(args, async (store) => {
      const entries = await store.reflog(args.ref, args.n === undefined ? {} : { limit: args.n })
      for (const e of entries) {
        if (args.json) {
          jsonLine({ ...e, time: e.time.toISOString() })
          continue
        }
        const target = e.new === null ? '(deleted)' : e.new.startsWith('ref: ') ? e.new.slice(5).replace(/^timelines\//, '') : shortIdOf(e.new)
        out.line(`${yellow(target)} ${args.ref}@{${e.index}}: ${e.reason} ${dim(e.time.toISOString())}`)
      }
    })
  },
}

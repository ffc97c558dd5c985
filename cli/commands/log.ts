import type { Argv } from 'yargs'
import { openFromArgs } from '../discover.js'
import { checkpointJson, dim, writeLine, yellow } from '../output.js'

interface LogArgs {
  store?: string | undefined
  json?: boolean | undefined
  rev: string
  n?: number | undefined
  oneline?: boolean | undefined
  firstParent?: boolean | undefined
}

export const logCommand = {
  command: 'log [rev]',
  describe: 'Show history, newest first',
  builder: (y: Argv) =>
    y
      .positional('rev', { type: 'string', default: 'HEAD', describe: 'Revision to start from' })
      .option('n', { type: 'number', describe: 'Show at most N checkpoints' })
      .option('oneline', { type: 'boolean', describe: 'One line per checkpoint' })
      .option('first-parent', { type: 'boolean', describe: 'Follow only first parents' })
      .example('$0 log', 'history of the timeline HEAD is on')
      .example('$0 log experiment -n 5 --oneline', 'the last five checkpoints of a timeline')
      .example('$0 log main --json | jq .stage', 'one JSON object per line, for scripts'),
  handler: async (args: LogArgs) => {
    const store = await openFromArgs(args)
    try {
      const options = { ...(args.n !== undefined && { limit: args.n }), ...(args.firstParent && { firstParent: true }) }
      for await (const c of store.log(args.rev, options)) {
        if (args.json) writeLine(checkpointJson(c))
        else if (args.oneline) writeLine(`${yellow(c.shortId)} ${c.stage ?? '-'} ${c.message}`.trimEnd())
        else {
          writeLine(yellow(`checkpoint ${c.id}`))
          writeLine(`Stage:  ${c.stage ?? '-'}${c.run ? `   Run: ${c.run}` : ''}${c.job ? `   Job: ${c.job}` : ''}`)
          writeLine(`Date:   ${c.time.toISOString()}   ${dim(c.author)}`)
          if (c.message) writeLine(`\n    ${c.message}`)
          writeLine()
        }
      }
    } finally {
      await store.close()
    }
  },
}

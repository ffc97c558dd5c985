import type { Argv } from 'yargs'
import { checkpointJson, printableLine } from '../format.js'
import { jsonLine, out, yellow } from '../output.js'
import { library, withStore } from '../store.js'

interface Args {
  store?: string
  rev: string
  timeline?: string
  json?: boolean
  hard?: boolean
  soft?: boolean
}

export const resetCommand = {
  command: 'reset <rev>',
  describe: 'Move a timeline to any revision, backwards too (recorded in its reflog; undo with TIMELINE@{1})',
  builder: (y: Argv) =>
    y
      .positional('rev', { type: 'string', demandOption: true, describe: 'Where the timeline should point' })
      .option('timeline', { alias: 't', type: 'string', describe: 'Timeline to move (default: the one HEAD is on; a detached HEAD moves itself)' })
      .option('json', { type: 'boolean', describe: 'The result as JSON: from, to, and the checkpoints no ref reaches any more' })
      // git's habits: with no work tree, --hard and --soft both mean just this move.
      .option('hard', { type: 'boolean', hidden: true })
      .option('soft', { type: 'boolean', hidden: true })
      .example('$0 reset HEAD~1', 'drop the last checkpoint from the timeline')
      .example('$0 reset main@{1}', 'undo the last move of main')
      .example('$0 reset v1 -t experiment', 'point experiment at tag v1')
      .epilogue('There is no work tree, so there is no --hard: only the timeline moves. Checkpoints left on no timeline or tag are named on stderr; the reflog keeps them until it expires (then gc frees them).'),
  handler: async (args: Args) => {
    const { shortIdOf } = await library()
    if (args.hard || args.soft) process.stderr.write(`note: ckpt has no work tree: --${args.hard ? 'hard' : 'soft'} moves the timeline, as plain reset does\n`)
    const result = await withStore(args, (store) => store.resetTimeline(args.rev, args.timeline === undefined ? {} : { timeline: args.timeline }))
    const where = result.timeline ?? 'HEAD'
    if (result.unreachable.length > 0) {
      const n = result.unreachable.length
      const shown = result.unreachable.slice(0, 10).map((id) => shortIdOf(id)).join(' ')
      process.stderr.write(
        `warning: ${n} checkpoint${n === 1 ? ' is' : 's are'} no longer on any timeline or tag: ${shown}${n > 10 ? ' …' : ''}\n` +
          `  the reflog keeps ${n === 1 ? 'it' : 'them'}: \`ckpt reset ${where === 'HEAD' ? 'HEAD' : where}@{1}\` undoes this, \`ckpt timeline NAME ${shortIdOf(result.unreachable[0]!)}\` keeps ${n === 1 ? 'it' : 'them'}\n`,
      )
    }
    if (args.json) return jsonLine({ ...result, to: checkpointJson(result.to) })
    const subject = result.to.message.split('\n')[0] ?? ''
    out.line(`${where} is now at ${yellow(result.to.shortId)} ${result.to.stage ?? '-'}${subject ? ` ${printableLine(subject)}` : ''}`)
  },
}

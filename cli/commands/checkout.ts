import type { Argv } from 'yargs'
import { jsonLine, out } from '../output.js'
import { library, withStore } from '../store.js'

interface Args {
  store?: string
  rev?: string
  b?: string
  to?: string
  json?: boolean
}

export const checkoutCommand = {
  command: 'checkout [rev]',
  aliases: ['switch'],
  describe: 'Move HEAD to a timeline or checkpoint (writes no files: see ckpt restore)',
  builder: (y: Argv) =>
    y
      .positional('rev', { type: 'string', describe: 'A timeline, or any revision (detaches HEAD); with -b, where the new timeline starts (default HEAD)' })
      .option('b', { type: 'string', describe: 'Create timeline B at REV and put HEAD on it' })
      .option('to', { type: 'string', hidden: true })
      .option('json', { type: 'boolean', describe: 'Print where HEAD is, as JSON: {"head": {...}, "leftBehind": [ids]}' })
      .example('$0 checkout experiment', 'put HEAD on a timeline (the next commit goes there)')
      .example('$0 checkout main~2', 'detach HEAD at a checkpoint, e.g. to resume from there')
      .example('$0 checkout main~2 -b retry', 'start a new timeline there')
      .example('$0 checkout -b experiment', 'start a new timeline where HEAD is')
      .example('$0 restore v1 --to restored/', 'write outputs into a folder: that is restore, which never moves HEAD'),
  handler: async (args: Args) => {
    const { CkptError } = await library()
    if (args.to !== undefined) {
      throw new CkptError('INVALID_ARGUMENT', `checkout only moves HEAD; to write outputs into ${args.to}, use: ckpt restore ${args.rev ?? 'HEAD'} --to ${args.to}`)
    }
    if (args.rev === undefined && args.b === undefined) throw new CkptError('INVALID_ARGUMENT', 'name where to go: ckpt checkout TIMELINE|REV, or ckpt checkout -b NEW [REV]')
    await withStore(args, async (store) => {
      let target = args.rev ?? 'HEAD'
      if (args.b !== undefined) {
        await store.timelines.create(args.b, target)
        target = args.b
      }
      const before = await store.head()
      const { head, leftBehind } = await store.checkout(target)
      if (args.json) return jsonLine({ head, leftBehind: leftBehind ?? [] })
      const [newest] = leftBehind ?? []
      if (newest !== undefined) {
        const count = leftBehind?.length === 1 ? '1 checkpoint' : `${leftBehind?.length} checkpoints`
        process.stderr.write(`Warning: leaving ${count} behind, on no timeline or tag, the newest ${newest}.\nKeep them with: ckpt timeline NAME ${newest}\n`)
      }
      if (head.detached) {
        process.stderr.write(
          `Note: HEAD is now detached at ${head.checkpoint}.\nCommits made here move only HEAD; create a timeline to keep them: ckpt checkout -b NAME\n`,
        )
      } else if (!before.detached && before.timeline === head.timeline) {
        out.line(`Already on timeline '${head.timeline}'${head.checkpoint === undefined ? ' (no checkpoints yet)' : ''}`)
      } else {
        out.line(args.b !== undefined ? `Switched to a new timeline '${head.timeline}'` : `Switched to timeline '${head.timeline}'`)
      }
    })
  },
}

import type { Argv } from 'yargs'
import type { CheckoutResult } from '../../src/index.js'
import { jsonLine, out } from '../output.js'
import { Progress } from '../progress.js'
import { withStore } from '../store.js'

interface Args {
  store?: string
  rev: string
  b?: string
  to?: string
  force?: boolean
  json?: boolean
}

export const checkoutCommand = {
  command: 'checkout <rev>',
  describe: 'Move HEAD to a timeline or checkpoint; with --to, also write its stage outputs into a folder',
  builder: (y: Argv) =>
    y
      .positional('rev', { type: 'string', demandOption: true })
      .option('b', { type: 'string', describe: 'Create timeline B at REV and put HEAD on it' })
      .option('to', { type: 'string', describe: 'Write every stage output into this folder (.json for JSON, files for bytes)' })
      .option('force', { type: 'boolean', describe: 'With --to: overwrite files ckpt did not write' })
      .option('json', { type: 'boolean', describe: 'Print where HEAD is, the files written and any renamed, as JSON' })
      .example('$0 checkout experiment', 'put HEAD on a timeline (the next commit goes there)')
      .example('$0 checkout main~2', 'detach HEAD at a checkpoint, e.g. to resume from there')
      .example('$0 checkout main~2 -b retry', 'start a new timeline there')
      .example('$0 checkout v1 --to restored/', 'also write the outputs into restored/'),
  handler: async (args: Args) => {
    await withStore(args, async (store) => {
      let target = args.rev
      if (args.b !== undefined) {
        await store.timelines.create(args.b, args.rev)
        target = args.b
      }
      let written: readonly string[] = []
      let renamed: CheckoutResult['renamed'] = []
      if (args.to !== undefined) {
        const progress = new Progress('checkout', 'bytes')
        const result = await progress.track(store.checkout(target, { to: args.to, force: args.force === true, onBytes: (done, total) => progress.update(done, total) }))
        written = result.written
        renamed = result.renamed
      }
      const head = await store.setHead(target)
      if (args.json) return jsonLine({ head, written, renamed })
      if (head.detached) {
        process.stderr.write(
          `Note: HEAD is now detached at ${head.checkpoint}.\nCommits made here move only HEAD; create a timeline to keep them: ckpt checkout -b NAME\n`,
        )
      } else {
        out.line(args.b !== undefined ? `Switched to a new timeline '${head.timeline}'` : `Switched to timeline '${head.timeline}'`)
      }
      if (args.to !== undefined) out.line(`Wrote ${written.length} file(s) into ${args.to}`)
      for (const r of renamed) out.line(`${r.wanted} was taken: stage ${r.stage} written as ${r.written}`)
    })
  },
}

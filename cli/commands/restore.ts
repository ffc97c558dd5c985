import type { Argv } from 'yargs'
import { jsonLine, out } from '../output.js'
import { Progress } from '../progress.js'
import { withStore } from '../store.js'

interface Args {
  store?: string
  rev: string
  stages?: string[]
  to: string
  force?: boolean
  json?: boolean
}

export const restoreCommand = {
  command: 'restore <rev> [stages..]',
  describe: "Write a checkpoint's stage outputs into a folder; HEAD does not move",
  builder: (y: Argv) =>
    y
      .positional('rev', { type: 'string', demandOption: true, describe: 'The checkpoint (a timeline, tag, id, main~2, …)' })
      .positional('stages', { type: 'string', array: true, describe: 'Only these stages (default: all)' })
      .option('to', { type: 'string', demandOption: true, describe: 'The folder to write into (JSON as STAGE.json, bytes under the file name they were committed from, folders as folders)' })
      .option('force', { alias: 'f', type: 'boolean', describe: 'Overwrite files ckpt did not write' })
      .option('json', { type: 'boolean', describe: 'Print {"checkpoint", "written", "renamed"} as JSON' })
      .example('$0 restore main~1 --to restored/', 'every output of a checkpoint')
      .example('$0 restore v1 report frames --to out/', 'two stages only')
      .example('$0 restore main --to out/ --force', 'replace files that ckpt did not write'),
  handler: async (args: Args) => {
    await withStore(args, async (store) => {
      const progress = new Progress('restore', 'bytes')
      const result = await progress.track(
        store.restore(args.rev, {
          to: args.to,
          force: args.force === true,
          ...(args.stages?.length && { stages: args.stages }),
          onBytes: (done, total) => progress.update(done, total),
        }),
      )
      if (args.json) return jsonLine({ checkpoint: result.checkpoint.id, written: result.written, renamed: result.renamed })
      out.line(`Wrote ${result.written.length} file(s) of ${result.checkpoint.shortId} into ${args.to}`)
      for (const r of result.renamed) out.line(`${r.wanted} was taken: stage ${r.stage} written as ${r.written}`)
    })
  },
}

import type { Argv } from 'yargs'
import { jsonLine, out } from '../output.js'
import { withStore } from '../store.js'

export const revParseCommand = {
  command: 'rev-parse <rev>',
  describe: 'Print the full id a revision names (a checkpoint, or with :STAGE its output)',
  builder: (y: Argv) =>
    y
      .positional('rev', { type: 'string', demandOption: true })
      .option('json', { type: 'boolean', describe: 'Print {"rev", "id"}' })
      .example('$0 rev-parse HEAD~2', 'full id of the grandparent of HEAD')
      .example('$0 rev-parse main:frames', "id of a stage output; for bytes its digest is the file's BLAKE3"),
  handler: async (args: { store?: string; rev: string; json?: boolean }) => {
    const id = await withStore(args, (store) => store.resolve(args.rev))
    if (args.json) jsonLine({ rev: args.rev, id })
    else out.line(id)
  },
}

import type { Argv } from 'yargs'
import { openFromArgs } from '../discover.js'
import { writeLine } from '../output.js'

export const revParseCommand = {
  command: 'rev-parse <rev>',
  describe: 'Print the full id a revision names (a checkpoint, or with :STAGE its output)',
  builder: (y: Argv) =>
    y
      .positional('rev', { type: 'string', demandOption: true })
      .example('$0 rev-parse HEAD~2', 'full id of the grandparent of HEAD')
      .example('$0 rev-parse main:frames', "id of the stage output; for bytes its digest is the file's BLAKE3"),
  handler: async (args: { store?: string | undefined; json?: boolean | undefined; rev: string }) => {
    const store = await openFromArgs(args)
    try {
      const id = await store.resolve(args.rev)
      writeLine(args.json ? JSON.stringify({ rev: args.rev, id }) : id)
    } finally {
      await store.close()
    }
  },
}

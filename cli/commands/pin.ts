import type { Argv } from 'yargs'
import { jsonLine, out, yellow } from '../output.js'
import { library, withStore } from '../store.js'

interface Args {
  store?: string
  rev?: string
  json?: boolean
}

export const pinCommand = {
  command: 'pin [rev]',
  describe: 'Keep a checkpoint and its history whatever retention says; with no REV, list pins',
  builder: (y: Argv) =>
    y
      .positional('rev', { type: 'string', describe: 'Checkpoint to pin' })
      .option('json', { type: 'boolean', describe: 'List as JSON lines' })
      .example('$0 pin main~3', 'keep that checkpoint')
      .example('$0 pin', 'list pinned checkpoints'),
  handler: async (args: Args) => {
    const { shortIdOf } = await library()
    await withStore(args, async (store) => {
      if (args.rev !== undefined) return out.line(`Pinned ${await store.pins.add(args.rev)}`)
      for (const id of await store.pins.list()) {
        if (args.json) jsonLine({ id })
        else out.line(`${yellow(shortIdOf(id))} ${id}`)
      }
    })
  },
}

export const unpinCommand = {
  command: 'unpin <rev>',
  describe: 'Let retention drop a pinned checkpoint again',
  builder: (y: Argv) => y.positional('rev', { type: 'string', demandOption: true }).example('$0 unpin main~3', 'remove the pin'),
  handler: async (args: Args & { rev: string }) => {
    await withStore(args, async (store) => out.line(`Unpinned ${await store.pins.remove(args.rev)}`))
  },
}

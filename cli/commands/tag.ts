import type { Argv } from 'yargs'
import { jsonLine, out, yellow } from '../output.js'
import { library, withStore } from '../store.js'

interface Args {
  store?: string
  name?: string
  rev?: string
  delete?: boolean
  json?: boolean
}

export const tagCommand = {
  command: 'tag [name] [rev]',
  describe: 'List, create or delete tags (names fixed on one checkpoint)',
  builder: (y: Argv) =>
    y
      .positional('name', { type: 'string' })
      .positional('rev', { type: 'string', describe: 'Checkpoint to tag (default HEAD)' })
      .option('delete', { alias: 'd', type: 'boolean', describe: 'Delete the tag' })
      .option('json', { type: 'boolean', describe: 'List as JSON lines' })
      .example('$0 tag', 'list tags')
      .example('$0 tag baseline main~3', 'tag a checkpoint')
      .example('$0 tag -d baseline', 'delete a tag'),
  handler: async (args: Args) => {
    const { CkptError, shortIdOf } = await library()
    await withStore(args, async (store) => {
      if (args.delete) {
        if (args.name === undefined) throw new CkptError('INVALID_ARGUMENT', 'name the tag to delete')
        await store.tags.delete(args.name)
        return out.line(`Deleted tag ${args.name}`)
      }
      if (args.name !== undefined) {
        const tag = await store.tags.create(args.name, args.rev ?? 'HEAD')
        return out.line(`Tagged ${tag.target} as ${tag.name}`)
      }
      for (const tag of await store.tags.list()) {
        if (args.json) jsonLine(tag)
        else out.line(`${tag.name}  ${yellow(shortIdOf(tag.target))}`)
      }
    })
  },
}

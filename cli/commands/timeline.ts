import type { Argv } from 'yargs'
import { bold, dim, green, humanTime, jsonLine, out, yellow } from '../output.js'
import { library, withStore } from '../store.js'

interface Args {
  store?: string
  name?: string
  rev?: string
  third?: string
  delete?: boolean
  restore?: boolean
  rename?: boolean
  move?: boolean
  force?: boolean
  json?: boolean
}

export const timelineCommand = {
  command: 'timeline [name] [rev] [third]',
  aliases: ['branch'],
  describe: 'List, create, delete, rename or move timelines (alias: branch)',
  builder: (y: Argv) =>
    y
      .positional('name', { type: 'string', describe: 'Timeline to create (or act on)' })
      .positional('rev', { type: 'string', describe: 'Where to create or move it (default HEAD); the new name with -m' })
      .positional('third', { type: 'string', hidden: true })
      .option('delete', { alias: 'd', type: 'boolean', describe: 'Delete NAME (its reflog stays)' })
      .option('restore', { type: 'boolean', describe: 'Bring back a deleted timeline NAME from its reflog' })
      .option('rename', { alias: 'm', type: 'boolean', describe: 'Rename NAME to the second argument' })
      .option('move', { type: 'boolean', describe: 'Point NAME at REV (forward only unless --force)' })
      .option('force', { alias: 'f', type: 'boolean', describe: 'With --move: allow moving to a non-descendant' })
      .option('json', { type: 'boolean', describe: 'List as JSON lines' })
      .example('$0 timeline', 'list timelines; * marks the one HEAD is on')
      .example('$0 timeline experiment main~2', 'fork a timeline from a checkpoint')
      .example('$0 timeline -m experiment exp-1', 'rename')
      .example('$0 timeline --move exp-1 main --force', 'repoint, even backwards')
      .example('$0 timeline -d exp-1', 'delete')
      .example('$0 timeline --restore exp-1', 'undo the delete')
      .example('$0 timeline delete exp-1', 'the same as words: create, delete, restore, rename, move, list')
      .epilogue('A first word of create, delete, restore, rename, move or list is a verb; `timeline create delete` makes a timeline named "delete".'),
  handler: async (given: Args) => {
    const { CkptError } = await library()
    const args = withVerb(given)
    await withStore(args, async (store) => {
      const need = (value: string | undefined, what: string): string => {
        if (value === undefined) throw new CkptError('INVALID_ARGUMENT', `give the ${what}`)
        return value
      }
      if (args.delete) {
        const name = need(args.name, 'timeline to delete')
        const id = await store.timelines.get(name)
        await store.timelines.delete(name)
        return out.line(`Deleted timeline ${name} (was ${id}); its reflog keeps the history`)
      }
      if (args.restore) {
        const info = await store.timelines.restore(need(args.name, 'timeline to restore'))
        return out.line(`Restored timeline ${info.name} at ${info.head}`)
      }
      if (args.rename) {
        const info = await store.timelines.rename(need(args.name, 'timeline to rename'), need(args.rev, 'new name: ckpt timeline -m OLD NEW'))
        return out.line(`Renamed ${args.name} to ${info.name}`)
      }
      if (args.move) {
        const info = await store.timelines.move(need(args.name, 'timeline to move'), args.rev ?? 'HEAD', { force: args.force === true })
        return out.line(`Moved ${info.name} to ${info.head}`)
      }
      if (args.name !== undefined && !args.list) {
        const info = await store.timelines.create(args.name, args.rev ?? 'HEAD')
        return out.line(`Created timeline ${info.name} at ${info.head}`)
      }
      const { timelineReport } = await library()
      const rows = await timelineReport(store)
      const width = (text: (r: (typeof rows)[number]) => string) => Math.max(0, ...rows.map((r) => text(r).length))
      const [nameWidth, stageWidth] = [width((r) => r.name), width((r) => r.checkpoint.stage ?? '-')]
      for (const { checkpoint: head, ...t } of rows) {
        if (args.json) {
          jsonLine({ name: t.name, head: t.head, current: t.current, stage: t.stage, time: t.time })
          continue
        }
        const mark = t.current ? green('* ') : '  '
        const name = t.name.padEnd(nameWidth)
        out.line(`${mark}${t.current ? bold(green(name)) : name}  ${yellow(head.shortId)}  ${(head.stage ?? '-').padEnd(stageWidth)}  ${dim(humanTime(head.time))}`)
      }
    })
  },
}

const VERBS = ['create', 'delete', 'restore', 'rename', 'move', 'list'] as const

/** `timeline delete NAME` and friends, as the flag forms (`timeline -d NAME`). */
function withVerb(args: Args): Args & { list?: boolean } {
  const verb = VERBS.find((v) => v === args.name)
  if (verb === undefined) return args
  const rest = { ...args, name: args.rev, rev: args.third }
  switch (verb) {
    case 'create':
      return rest
    case 'list':
      return { ...rest, list: true }
    default:
      return { ...rest, [verb]: true }
  }
}

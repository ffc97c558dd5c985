import type { Argv } from 'yargs'
import type { Store, TransferResult } from '../../src/index.js'
import { humanSize, jsonLine, out } from '../output.js'
import { Progress } from '../progress.js'
import { library, storeLocation, withStore, withoutPasswords } from '../store.js'

interface Args {
  store?: string
  json?: boolean
  force?: boolean
}

function report(result: TransferResult, json: boolean | undefined): void {
  if (json) return jsonLine(result)
  out.line(`${result.blocks} blocks (${humanSize(result.bytes)}) checked, ${result.written} new`)
  for (const { ref, action } of result.refs) out.line(`${ref}: ${action}`)
}

/** Runs one transfer with a progress count on stderr, then reports it. */
async function transferWith(args: Args, label: string, run: (store: Store, onBlock: (n: number) => void) => Promise<TransferResult>): Promise<void> {
  await withStore(args, async (store) => {
    const bar = new Progress(label)
    const result = await bar.track(run(store, (n) => bar.count('blocks', n)))
    report(result, args.json)
  })
}

export const remoteCommand = {
  command: 'remote [action] [name] [location]',
  describe: 'List, add or remove the other stores this one pushes to and fetches from',
  builder: (y: Argv) =>
    y
      .positional('action', { type: 'string', choices: ['add', 'remove', 'list'], describe: 'add NAME LOCATION, remove NAME, or list (the default)' })
      .positional('name', { type: 'string' })
      .positional('location', { type: 'string', describe: 'The other store\'s folder or URL (postgres://…)' })
      .option('json', { type: 'boolean', describe: 'List as JSON lines' })
      .option('verbose', { alias: 'v', type: 'boolean', describe: 'Taken as git takes it; the list always shows locations' })
      .example('$0 remote add team /mnt/shared/.ckpt', 'a shared store on a mounted disk')
      .example('$0 remote add team postgres://me@db:5432/ckpt?schema=team', 'a store on PostgreSQL (its password in PGPASSWORD or ~/.pgpass)')
      .example('$0 remote', 'list remotes'),
  handler: async (args: Args & { action?: string; name?: string; location?: string }) => {
    const { CkptError } = await library()
    await withStore(args, async (store) => {
      if (args.action === 'add') {
        if (args.name === undefined || args.location === undefined) throw new CkptError('INVALID_ARGUMENT', 'remote add needs NAME and LOCATION')
        await store.remotes.add(args.name, args.location)
        return out.line(`Added remote ${args.name} at ${withoutPasswords(storeLocation(args.location))}`)
      }
      if (args.action === 'remove') {
        if (args.name === undefined) throw new CkptError('INVALID_ARGUMENT', 'remote remove needs NAME')
        await store.remotes.remove(args.name)
        return out.line(`Removed remote ${args.name}`)
      }
      // ckpt records no password, but an older build or a hand-made ref may have.
      for (const { name, location } of await store.remotes.list()) {
        if (args.json) jsonLine({ name, location: withoutPasswords(location) })
        else out.line(`${name}  ${withoutPasswords(location)}`)
      }
    })
  },
}

export const pushCommand = {
  command: 'push <remote> <timeline>',
  describe: 'Send a timeline to a remote, fast-forward only unless --force',
  builder: (y: Argv) =>
    y
      .positional('remote', { type: 'string', demandOption: true })
      .positional('timeline', { type: 'string', demandOption: true })
      .option('force', { alias: 'f', type: 'boolean', describe: 'Move the remote timeline even when not a fast-forward' })
      .option('json', { type: 'boolean', describe: 'The result as one JSON object' })
      .example('$0 push team main', 'share main')
      .example('$0 push team main  # after a conflict: ckpt fetch team, then retry', 'another pusher won the race'),
  handler: (args: Args & { remote: string; timeline: string }) =>
    transferWith(args, 'push', (store, onBlock) => store.remotes.push(args.remote, args.timeline, { force: args.force === true, onBlock })),
}

export const fetchCommand = {
  command: 'fetch <remote> [timelines..]',
  describe: 'Bring a remote\'s timelines here as REMOTE/NAME, moving none of this store\'s timelines',
  builder: (y: Argv) =>
    y
      .positional('remote', { type: 'string', demandOption: true })
      .positional('timelines', { type: 'string', array: true })
      .option('json', { type: 'boolean', describe: 'The result as one JSON object' })
      .example('$0 fetch team', 'then: ckpt log team/main, ckpt diff main team/main'),
  handler: (args: Args & { remote: string; timelines?: string[] }) =>
    transferWith(args, 'fetch', (store, onBlock) => store.remotes.fetch(args.remote, args.timelines?.length ? args.timelines : undefined, { onBlock })),
}

export const pullCommand = {
  command: 'pull <remote> <timeline>',
  describe: 'Fetch a timeline and fast-forward this store\'s timeline of that name to it',
  builder: (y: Argv) =>
    y
      .positional('remote', { type: 'string', demandOption: true })
      .positional('timeline', { type: 'string', demandOption: true })
      .option('force', { alias: 'f', type: 'boolean', describe: 'Move the timeline even when not a fast-forward (the old head stays in the reflog)' })
      .option('json', { type: 'boolean', describe: 'The result as one JSON object' })
      .example('$0 pull team main', 'bring main up to date'),
  handler: (args: Args & { remote: string; timeline: string }) =>
    transferWith(args, 'pull', (store, onBlock) => store.remotes.pull(args.remote, args.timeline, { force: args.force === true, onBlock })),
}

export const cloneCommand = {
  command: 'clone <location> <dir>',
  describe: 'Create a store holding everything another store has; it becomes the remote origin',
  builder: (y: Argv) =>
    y
      .positional('location', { type: 'string', demandOption: true, describe: 'The store to copy' })
      .positional('dir', { type: 'string', demandOption: true, describe: 'Where to create the new store' })
      .option('json', { type: 'boolean', describe: 'Print {dir, timelines} as JSON' })
      .example('$0 clone /mnt/shared/.ckpt .ckpt', 'start from the team\'s store'),
  handler: async (args: Args & { location: string; dir: string }) => {
    const { cloneStore } = await library()
    const store = await cloneStore(args.location, args.dir)
    try {
      const timelines = (await store.timelines.list()).map((t) => t.name)
      if (args.json) jsonLine({ dir: withoutPasswords(storeLocation(args.dir)), timelines })
      else out.line(`Cloned ${timelines.length} timeline(s) into ${withoutPasswords(storeLocation(args.dir))}`)
    } finally {
      await store.close()
    }
  },
}

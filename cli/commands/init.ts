import path from 'node:path'
import type { Argv } from 'yargs'
import { jsonLine, out } from '../output.js'
import { STORE_FOLDER, isUrlLocation, library, storeLocation, withoutPasswords } from '../store.js'

interface Args {
  dir: string
  store?: string
  json?: boolean
}

export const initCommand = {
  command: 'init [dir]',
  describe: `Create a store (DIR/${STORE_FOLDER}, or exactly --store DIR, or at a postgres:// URL)`,
  builder: (y: Argv) =>
    y
      .positional('dir', { type: 'string', describe: `Project folder to create the store in, or a store URL (postgres://…) to create it at`, default: '.' })
      .option('json', { type: 'boolean', describe: 'Print {"path": …}' })
      .example('$0 init', `create ./${STORE_FOLDER}`)
      .example('$0 init runs/', `create runs/${STORE_FOLDER}`)
      .example('$0 --store /data/ckpt init', 'create a store at exactly /data/ckpt')
      .example('$0 init postgres://me@db:5432/ckpt?schema=team_a', 'create a store in a PostgreSQL schema'),
  handler: async (args: Args) => {
    // A URL names a store, not a project folder: it gets no .ckpt appended.
    const given = isUrlLocation(args.dir) ? args.dir : undefined
    const dir = storeLocation(args.store ?? given ?? process.env.CKPT_DIR ?? path.join(args.dir, STORE_FOLDER))
    const { initStore } = await library()
    await (await initStore(dir)).close()
    if (args.json) jsonLine({ path: withoutPasswords(dir) })
    else out.line(`Initialized empty ckpt store in ${withoutPasswords(dir)}`)
  },
}

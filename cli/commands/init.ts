import { existsSync } from 'node:fs'
import path from 'node:path'
import type { Argv } from 'yargs'
import { jsonLine, out } from '../output.js'
import { STORE_FOLDER, isUrlLocation, library, storeLocation, withoutPasswords } from '../store.js'

interface Args {
  dir?: string
  store?: string
  json?: boolean
}

export const initCommand = {
  command: 'init [dir]',
  describe: `Create a store (DIR/${STORE_FOLDER}, or exactly --store DIR, or at a postgres:// URL)`,
  builder: (y: Argv) =>
    y
      .positional('dir', { type: 'string', describe: `Project folder to create the store in (default: $CKPT_DIR, else the working directory), or a store URL (postgres://…) to create it at` })
      .option('json', { type: 'boolean', describe: 'Print {"path": …}' })
      .example('$0 init', `create ./${STORE_FOLDER}`)
      .example('$0 init runs/', `create runs/${STORE_FOLDER}`)
      .example('$0 --store /data/ckpt init', 'create a store at exactly /data/ckpt')
      .example('$0 init postgres://me@db:5432/ckpt?schema=team_a', 'create a store in a PostgreSQL schema'),
  handler: async (args: Args) => {
    const { initStore, CkptError, STORE_MARKER } = await library()
    if (args.store !== undefined && args.dir !== undefined) {
      throw new CkptError('INVALID_ARGUMENT', `init: give the store's place once, as --store ${args.store} or as ${args.dir}, not both`)
    }
    // What the command line names wins over the environment. A URL names a store, not a project
    // folder: it gets no .ckpt appended.
    const named = args.dir === undefined ? undefined : isUrlLocation(args.dir) ? args.dir : path.join(args.dir, STORE_FOLDER)
    const dir = storeLocation(args.store ?? named ?? (process.env.CKPT_DIR || STORE_FOLDER))
    const nested = path.join(dir, STORE_FOLDER)
    if (!isUrlLocation(dir) && existsSync(path.join(nested, STORE_MARKER))) {
      throw new CkptError('STORE_EXISTS', `${dir} already holds a store, in ${nested}; a second one inside it would hide it (use --store ${nested})`, { details: { path: nested } })
    }
    await (await initStore(dir)).close()
    if (args.json) jsonLine({ path: withoutPasswords(dir) })
    else out.line(`Initialized empty ckpt store in ${withoutPasswords(dir)}`)
  },
}

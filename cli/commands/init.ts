import path from 'node:path'
import type { Argv } from 'yargs'
import { jsonLine, out } from '../output.js'
import { STORE_FOLDER, library, storeLocation, withoutPasswords } from '../store.js'

interface Args {
  dir: string
  store?: string
  json?: boolean
}

export const initCommand = {
  command: 'init [dir]',
  describe: `Create a store (DIR/${STORE_FOLDER}, or exactly --store DIR)`,
  builder: (y: Argv) =>
    y
      .positional('dir', { type: 'string', describe: 'Project folder to create the store in', default: '.' })
      .option('json', { type: 'boolean', describe: 'Print {"path": …}' })
      .example('$0 init', `create ./${STORE_FOLDER}`)
      .example('$0 init runs/', `create runs/${STORE_FOLDER}`)
      .example('$0 --store /data/ckpt init', 'create a store at exactly /data/ckpt')
      .example('$0 --store postgres://me@db:5432/ckpt?schema=team_a init', 'create a store in a PostgreSQL schema'),
  handler: async (args: Args) => {
    const dir = storeLocation(args.store ?? process.env.CKPT_DIR ?? path.join(args.dir, STORE_FOLDER))
    const { initStore } = await library()
    await (await initStore(dir)).close()
    if (args.json) jsonLine({ path: withoutPasswords(dir) })
    else out.line(`Initialized empty ckpt store in ${withoutPasswords(dir)}`)
  },
}

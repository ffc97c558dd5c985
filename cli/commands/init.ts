import path from 'node:path'
import type { Argv } from 'yargs'
import { initStore } from '../../src/index.js'
import { STORE_FOLDER } from '../discover.js'
import { writeLine } from '../output.js'

export const initCommand = {
  command: 'init [dir]',
  describe: `Create a store (in DIR/${STORE_FOLDER}, or --store DIR)`,
  builder: (y: Argv) =>
    y
      .positional('dir', { type: 'string', describe: 'Project folder to create the store in', default: '.' })
      .example('$0 init', `create ./${STORE_FOLDER}`)
      .example('$0 init runs/', `create runs/${STORE_FOLDER}`)
      .example('$0 --store /data/ckpt init', 'create a store at exactly /data/ckpt'),
  handler: async (args: { dir: string; store?: string | undefined; json?: boolean | undefined }) => {
    const dir = path.resolve(args.store ?? process.env.CKPT_DIR ?? path.join(args.dir, STORE_FOLDER))
    const store = await initStore(dir)
    await store.close()
    if (args.json) writeLine(JSON.stringify({ path: dir }))
    else writeLine(`Initialized empty ckpt store in ${dir}`)
  },
}

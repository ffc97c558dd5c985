import { createReadStream, createWriteStream } from 'node:fs'
import { rename, rm } from 'node:fs/promises'
import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import type { Argv } from 'yargs'
import { humanSize, jsonLine, out } from '../output.js'
import { withStore } from '../store.js'

interface ExportArgs {
  store?: string
  revs?: string[]
  output: string
  json?: boolean
}

export const exportCommand = {
  command: 'export <revs..>',
  describe: 'Write checkpoints with their history, outputs and blobs to a CAR file',
  builder: (y: Argv) =>
    y
      .positional('revs', { type: 'string', array: true, describe: 'Revisions; A..B exports what B has that A lacks' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'The .car file to write' })
      .option('json', { type: 'boolean', describe: 'Print {roots, blocks, bytes} as JSON' })
      .example('$0 export main -o main.car', 'main with its whole history')
      .example('$0 export v1..main -o since-v1.car', 'only what main has that v1 lacks')
      .example('$0 import main.car', 'on the other machine'),
  handler: async (args: ExportArgs) => {
    await withStore(args, async (store) => {
      const counts = { blocks: 0, bytes: 0 }
      // Written to a temporary name: an interrupted export never leaves a truncated file behind.
      const temp = `${args.output}.ckpt-tmp`
      try {
        await pipeline(Readable.from(store.exportCar(args.revs ?? [], counts)), createWriteStream(temp))
        await rename(temp, args.output)
      } catch (err) {
        await rm(temp, { force: true })
        throw err
      }
      if (args.json) jsonLine({ revisions: args.revs, ...counts })
      else out.line(`wrote ${counts.blocks} blocks (${humanSize(counts.bytes)}) to ${args.output}`)
    })
  },
}

interface ImportArgs {
  store?: string
  file: string
  force?: boolean
  json?: boolean
}

export const importCommand = {
  command: 'import <file>',
  describe: 'Read a CAR file: verify every block, then create or fast-forward its timelines and tags',
  builder: (y: Argv) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'A .car file written by ckpt export' })
      .option('force', { alias: 'f', type: 'boolean', describe: 'Move timelines and tags even when not a fast-forward (the old head stays in the reflog)' })
      .option('json', { type: 'boolean', describe: 'The result as one JSON object' })
      .example('$0 import main.car', 'bring in a colleague\'s checkpoints')
      .example('$0 import --force main.car', 'accept a rewritten timeline'),
  handler: async (args: ImportArgs) => {
    await withStore(args, async (store) => {
      const result = await store.importCar(createReadStream(args.file), { force: args.force === true })
      if (args.json) return jsonLine(result)
      out.line(`imported ${result.blocks} blocks (${humanSize(result.bytes)})`)
      for (const { ref, action } of result.refs) out.line(`${ref}: ${action}`)
    })
  },
}

import type { Argv } from 'yargs'
import type { Checkpoint } from '../../src/index.js'
import { HISTORY_CUT, checkpointJson, printable, printableLine } from '../format.js'
import { dim, humanTime, jsonLine, out, yellow } from '../output.js'
import { library, withStore } from '../store.js'

interface Args {
  store?: string
  spec: string
  json?: boolean
}

export const blameCommand = {
  command: 'blame <spec>',
  aliases: ['origin'],
  describe: 'Which checkpoint and run first produced a stage output, and which later checkpoints carried it unchanged (alias: origin)',
  builder: (y: Argv) =>
    y
      .positional('spec', { type: 'string', demandOption: true, describe: 'REV:STAGE' })
      .option('json', { type: 'boolean', describe: 'The output id, its origin checkpoint and the checkpoints that carried it, as JSON' })
      .example('$0 blame HEAD:detect', 'where the current detect output comes from')
      .example('$0 origin main~3:report --json', 'the same, for scripts')
      .epilogue('Walks first parents back from REV while the stage keeps the same output id: the oldest such checkpoint is the origin.'),
  handler: async (args: Args) => {
    const { CkptError } = await library()
    const colon = args.spec.indexOf(':')
    const stage = args.spec.slice(colon + 1)
    if (colon <= 0 || stage === '' || stage.includes('/')) {
      throw new CkptError('INVALID_REVISION', `"${args.spec}": give REV:STAGE, e.g. HEAD:detect`, { details: { revision: args.spec } })
    }
    const revision = args.spec.slice(0, colon)
    const found = await withStore(args, async (store) => {
      const output = await store.resolve(args.spec)
      // Newest first along first parents, while the stage holds this output.
      const carriers: Checkpoint[] = []
      let cut = false
      for await (const c of store.log(revision, { firstParent: true })) {
        if (c.stages[stage] !== output) break
        carriers.push(c)
        if (c.historyCut) {
          cut = true
          break
        }
      }
      return { output, origin: carriers.pop() as Checkpoint, carriedBy: carriers, cut }
    })
    if (args.json) {
      return jsonLine({ stage, output: found.output, origin: checkpointJson(found.origin), carriedBy: found.carriedBy.map(checkpointJson), ...(found.cut && { historyCut: true }) })
    }
    const line = (c: Checkpoint) =>
      `${yellow(c.shortId)} #${c.seq} ${c.stage ?? '-'}${c.run ? ` [run ${printable(c.run)}]` : ''} ${dim(humanTime(c.time))}${c.message ? ` ${printableLine(c.message.split('\n')[0]!)}` : ''}`
    out.line(`${stage}  ${found.output}`)
    out.line(`origin   ${line(found.origin)}${found.cut ? dim(` (${HISTORY_CUT}: it may be older)`) : ''}`)
    if (found.carriedBy.length === 0) return out.line('carried by no later checkpoint')
    out.line(`carried unchanged by ${found.carriedBy.length} later checkpoint${found.carriedBy.length === 1 ? '' : 's'}:`)
    for (const c of found.carriedBy) out.line(`         ${line(c)}`)
  },
}

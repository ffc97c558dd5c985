import { readFile } from 'node:fs/promises'
import type { Argv } from 'yargs'
import { CkptError } from '../../src/index.js'
import { openFromArgs } from '../discover.js'
import { checkpointJson, writeLine } from '../output.js'

interface CommitArgs {
  store?: string | undefined
  json?: boolean | undefined
  timeline?: string | undefined
  stage: string
  value?: string | undefined
  file?: string | undefined
  message?: string | undefined
  run?: string | undefined
  job?: string | undefined
}

export const commitCommand = {
  command: 'commit',
  describe: 'Record a stage output as a new checkpoint',
  builder: (y: Argv) =>
    y
      .option('stage', { alias: 's', type: 'string', demandOption: true, describe: 'Stage that produced the output' })
      .option('value', { type: 'string', describe: 'The output as a JSON literal' })
      .option('file', { type: 'string', describe: 'The output from a file (.json parsed, anything else stored as bytes)' })
      .option('timeline', { alias: 't', type: 'string', describe: 'Timeline to commit onto (default: the one HEAD is on)' })
      .option('message', { alias: 'm', type: 'string', describe: 'Message' })
      .option('run', { type: 'string', describe: 'Run id' })
      .option('job', { type: 'string', describe: 'Job id' })
      .example(`$0 commit -s detect --value '{"count": 3}' -m "first pass"`, 'commit a JSON output')
      .example('$0 commit -s frames --file frames.bin --run r42', 'commit a file as bytes'),
  handler: async (args: CommitArgs) => {
    const output = await readOutput(args)
    const store = await openFromArgs(args)
    try {
      const checkpoint = await store.commit({
        stage: args.stage,
        output,
        ...(args.timeline !== undefined && { timeline: args.timeline }),
        ...(args.message !== undefined && { message: args.message }),
        ...(args.run !== undefined && { run: args.run }),
        ...(args.job !== undefined && { job: args.job }),
      })
      writeLine(args.json ? checkpointJson(checkpoint) : checkpoint.shortId)
    } finally {
      await store.close()
    }
  },
}

async function readOutput(args: CommitArgs): Promise<unknown> {
  if ((args.value === undefined) === (args.file === undefined)) {
    throw new CkptError('INVALID_ARGUMENT', 'give the output with exactly one of --value or --file')
  }
  if (args.value !== undefined) return parseJson(args.value, '--value')
  const bytes = await readFile(args.file as string)
  return (args.file as string).endsWith('.json') ? parseJson(bytes.toString('utf8'), args.file as string) : new Uint8Array(bytes)
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text)
  } catch (cause) {
    throw new CkptError('INVALID_ARGUMENT', `${source} is not valid JSON: ${(cause as Error).message}`, { cause })
  }
}

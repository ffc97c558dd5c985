import { readFile, stat } from 'node:fs/promises'
import { createReadStream, type ReadStream } from 'node:fs'
import type { Argv } from 'yargs'
import { checkpointJson } from '../format.js'
import { humanSize, jsonLine, out } from '../output.js'
import { Progress } from '../progress.js'
import { library, parseJsonArgument, withStore } from '../store.js'

interface Args {
  store?: string
  stage: string
  json?: string
  file?: string
  dir?: string
  input?: string
  as?: 'json' | 'bytes'
  timeline?: string
  message?: string
  run?: string
  job?: string
  config?: string
  meta?: string[]
  parent?: string
  retry?: number
}

export const commitCommand = {
  command: 'commit [input]',
  describe: 'Record a stage output as a new checkpoint',
  builder: (y: Argv) =>
    y
      .positional('input', { type: 'string', describe: 'Give "-" to read the output from stdin' })
      .option('stage', { alias: 's', type: 'string', demandOption: true, describe: 'Stage that produced the output' })
      .option('json', { type: 'string', describe: 'The output as a JSON literal. Given with no value: print the new checkpoint as JSON' })
      .option('file', { alias: 'f', type: 'string', describe: 'The output from a file: .json files are parsed, others stored as bytes' })
      .option('dir', { type: 'string', describe: 'The output from a folder, stored as a tree of files' })
      .option('as', { choices: ['json', 'bytes'] as const, describe: 'Read --file or stdin as JSON or as bytes (stdin default: bytes)' })
      .option('timeline', { alias: 't', type: 'string', describe: 'Timeline to commit onto (default: the one HEAD is on)' })
      .option('message', { alias: 'm', type: 'string', describe: 'Message' })
      .option('run', { type: 'string', describe: 'Run id' })
      .option('job', { type: 'string', describe: 'Job id' })
      .option('config', { type: 'string', describe: 'Config used, as JSON' })
      .option('meta', { type: 'string', array: true, describe: 'Metadata key=value (repeatable)' })
      .option('parent', { type: 'string', describe: 'Parent revision instead of the timeline head' })
      .option('retry', { type: 'number', describe: 'Retry this many times if another writer moves the timeline meanwhile' })
      .example(`$0 commit -s detect --json '{"count": 3}' -m "first pass" --run r42`, 'record a JSON output')
      .example('$0 commit -s frames --file frames.bin', 'record a file as bytes, streamed: any size, bounded memory')
      .example('$0 commit -s frames --dir out/frames/', 'record a folder as a tree of files')
      .example('$0 commit -s report --file report.json --json', 'record a parsed JSON file, print the checkpoint as JSON')
      .example('python detect.py | $0 commit -s detect --as json -', 'record what a program prints'),
  handler: async (args: Args) => {
    const { CkptError } = await library()
    const printJson = args.json === ''
    const output = await readOutput(args, CkptError)
    const config = args.config === undefined ? undefined : await parseJsonArgument(args.config, '--config')
    const meta = Object.fromEntries(
      (args.meta ?? []).map((pair) => {
        const eq = pair.indexOf('=')
        if (eq <= 0) throw new CkptError('INVALID_ARGUMENT', `--meta ${pair}: expected key=value`)
        return [pair.slice(0, eq), pair.slice(eq + 1)]
      }),
    )
    const checkpoint = await withStore(args, (store) =>
      store.commit({
        stage: args.stage,
        output,
        meta,
        ...(config !== undefined && { config }),
        ...(args.timeline !== undefined && { timeline: args.timeline }),
        ...(args.message !== undefined && { message: args.message }),
        ...(args.run !== undefined && { run: args.run }),
        ...(args.job !== undefined && { job: args.job }),
        ...(args.parent !== undefined && { parent: args.parent }),
        ...(args.retry !== undefined && { retry: args.retry }),
      }),
    )
    if (printJson) jsonLine(checkpointJson(checkpoint))
    else out.line(checkpoint.shortId)
  },
}

type ErrorClass = Awaited<ReturnType<typeof library>>['CkptError']

async function readOutput(args: Args, CkptError: ErrorClass): Promise<unknown> {
  const literal = args.json !== undefined && args.json !== '' ? args.json : undefined
  // yargs hands a lone "-" to a string positional as ''.
  const fromStdin = args.input === '' || args.input === '-'
  if (args.input !== undefined && !fromStdin) {
    throw new CkptError('INVALID_ARGUMENT', `unexpected argument "${args.input}": give - to read stdin, or --file PATH`)
  }
  const sources = [literal, args.file, args.dir, fromStdin ? '-' : undefined].filter((s) => s !== undefined)
  if (sources.length !== 1) {
    throw new CkptError('INVALID_ARGUMENT', 'give the output with exactly one of --json LITERAL, --file PATH, --dir PATH or - (stdin)')
  }
  const { onPath } = await library()
  if (args.dir !== undefined) return onPath(args.dir, async () => (await library()).readDirectory(args.dir as string), 'cannot read --dir')
  if (literal !== undefined) return parseJsonArgument(literal, '--json')
  const asJson = args.as === 'json' || (args.as === undefined && args.file?.endsWith('.json') === true)
  if (asJson) {
    const file = args.file
    const text = (file !== undefined ? await onPath(file, () => readFile(file), 'cannot read --file') : await readStdin()).toString('utf8')
    return parseJsonArgument(text, args.file ?? 'stdin')
  }
  // Bytes are streamed into the store as they are read: a file of any size in bounded memory.
  const file = args.file
  return file !== undefined ? onPath(file, () => readWithProgress(file), 'cannot read --file') : process.stdin
}

/**
 * The file as a plain file stream (so the store can tell an unchanged file from its stat), with a
 * progress bar for large ones that polls how far it has been read.
 */
async function readWithProgress(file: string): Promise<ReadStream> {
  const found = await stat(file)
  if (found.isDirectory()) throw Object.assign(new Error(`${file} is a folder`), { code: 'EISDIR' })
  const { size } = found
  const stream = createReadStream(file, { highWaterMark: 1024 * 1024 })
  if (size < 64 * 1024 * 1024) return stream
  const progress = new Progress(`storing ${file}`)
  const timer = setInterval(() => progress.update(stream.bytesRead, size, humanSize), 100)
  stream.once('close', () => {
    clearInterval(timer)
    progress.done()
  })
  return stream
}

async function readStdin(): Promise<Buffer> {
  const pieces: Buffer[] = []
  for await (const piece of process.stdin) pieces.push(piece as Buffer)
  return Buffer.concat(pieces)
}



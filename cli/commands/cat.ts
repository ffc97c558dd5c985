import { once } from 'node:events'
import type { Argv } from 'yargs'
import { jsonLine, out } from '../output.js'
import { library, withStore } from '../store.js'

interface Args {
  store?: string
  spec: string
  json?: boolean
}

export const catCommand = {
  command: 'cat <spec>',
  describe: 'Print a stage output: REV:STAGE, REV:STAGE/json/pointer, or an output id',
  builder: (y: Argv) =>
    y
      .positional('spec', { type: 'string', demandOption: true, describe: 'REV:STAGE[/json/pointer] or an output id' })
      .option('json', { type: 'boolean', describe: 'Compact JSON even on a terminal (bytes as a base64 string; a log tail or git diff as its JSON, not its text)' })
      .example('$0 cat HEAD:detect', 'the detect stage output (pretty JSON on a terminal)')
      .example('$0 cat main~1:detect/detections/0/score', 'one value inside it (RFC 6901 pointer)')
      .example('$0 cat HEAD:frames > frames.bin', 'a bytes output, raw')
      .example('$0 cat HEAD:frames_dir', 'a folder output: its files and sizes')
      .example('$0 cat HEAD:frames_dir/0001.png > f.png', 'one file of a folder output'),
  handler: async (args: Args) => {
    const { CkptError, Directory, isCkptError, renderTextOutput } = await library()
    const value = await withStore(args, async (store) => {
      // `cat HEAD`: a checkpoint is not an output; its node (epoch times, base64) helps no one.
      const checkpoint = args.spec.includes(':') ? undefined : await store.getCheckpoint(args.spec).catch(() => undefined)
      if (checkpoint !== undefined) {
        const stages = Object.keys(checkpoint.stages)
        const examples = stages.slice(0, 3).map((s) => `${args.spec}:${s}`).join(' or ')
        throw new CkptError('INVALID_ARGUMENT', `${args.spec} is a checkpoint, not an output: name a stage, as ${examples || `${args.spec}:STAGE`} (stages: ${stages.join(', ') || 'none'}; ckpt show ${args.spec} lists them)`, {
          details: { stages },
        })
      }
      // Bytes stream straight to stdout, so a multi-GiB output never sits in memory.
      const info = args.json ? undefined : await store.outputInfo(args.spec).catch((err: unknown) => {
        if (isCkptError(err, 'INVALID_REVISION')) return undefined
        throw err
      })
      if (info?.kind === 'bytes') {
        await writeToStdout(store.getBlobStream(args.spec))
        return undefined
      }
      return store.getOutput(args.spec)
    })
    if (value === undefined) return
    if (value instanceof Directory) {
      // A folder lists its files, like `git ls-tree`; name one as REV:STAGE/path to print it.
      for (const [file, bytes] of value.files) {
        if (args.json) jsonLine({ path: file, size: bytes.length })
        else out.line(`${String(bytes.length).padStart(10)}  ${file}`)
      }
      return
    }
    if (value instanceof Uint8Array && !args.json) {
      await new Promise<void>((resolve, reject) => process.stdout.write(value, (err) => (err ? reject(err) : resolve())))
      return
    }
    const text = args.json ? undefined : renderTextOutput(value)
    if (text !== undefined) return void process.stdout.write(text)
    const pretty = process.stdout.isTTY && !args.json
    out.line(JSON.stringify(value, (_key, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v), pretty ? 2 : undefined))
  },
}

async function writeToStdout(pieces: AsyncIterable<Uint8Array>): Promise<void> {
  for await (const piece of pieces) {
    if (!process.stdout.write(piece)) await once(process.stdout, 'drain')
  }
  await new Promise<void>((resolve, reject) => process.stdout.write('', (err) => (err ? reject(err) : resolve())))
}

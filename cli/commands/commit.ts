import { readFile, stat } from 'node:fs/promises'
import { createReadStream, fstatSync, ReadStream } from 'node:fs'
import path from 'node:path'
import type { Argv } from 'yargs'
import { checkpointJson } from '../format.js'
import { jsonLine, out } from '../output.js'
import { Progress } from '../progress.js'
import { library, parseJsonArgument, parseKeyValues, withStore } from '../store.js'

interface Args {
  store?: string
  stage?: string
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
  parent?: string[]
  amend?: boolean
  retry?: number
  gitDiff?: string
  logTail?: boolean
  keep?: number
  all?: boolean
}

export const commitCommand = {
  command: 'commit [input]',
  describe: 'Record a stage output as a new checkpoint',
  builder: (y: Argv) =>
    y
      .positional('input', { type: 'string', describe: 'Give "-" to read the output from stdin' })
      .option('stage', { alias: 's', type: 'string', describe: 'Stage that produced the output (required, except with --amend)' })
      .option('json', { type: 'string', describe: 'The output as a JSON literal. Given with no value: print the new checkpoint as JSON' })
      .option('file', { alias: 'f', type: 'string', describe: 'The output from a file: .json files are parsed, others stored as bytes' })
      .option('dir', { type: 'string', describe: 'The output from a folder, stored as a tree of files (in a git work tree: without what .gitignore excludes; never .git, unless --all)' })
      .option('all', { type: 'boolean', describe: 'With --dir: every file, .git and ignored files included' })
      .option('git-diff', { type: 'string', describe: 'The output: the git working tree here against BASE (default HEAD): unified diff and diffstat, untracked files included' })
      .option('log-tail', { type: 'boolean', describe: 'Read --file or stdin as log lines (JSON lines {"source","text","seq"} or plain text) and keep the last --keep, merged by seq' })
      .option('keep', { type: 'number', describe: 'With --log-tail: lines to keep (default 200)' })
      .option('as', { choices: ['json', 'bytes'] as const, describe: 'Read --file or stdin as JSON or as bytes (stdin default: bytes)' })
      .option('timeline', { alias: 't', type: 'string', describe: 'Timeline to commit onto (default: the one HEAD is on)' })
      .option('message', { alias: 'm', type: 'string', describe: 'Message' })
      .option('run', { type: 'string', describe: 'Run id' })
      .option('job', { type: 'string', describe: 'Job id' })
      .option('config', { type: 'string', describe: 'Config used, as JSON' })
      .option('meta', { type: 'string', array: true, describe: 'Metadata key=value (repeatable)' })
      .option('parent', { type: 'string', array: true, describe: 'Parent revision instead of the timeline head; repeat for several parents (a merge, the first giving the base stages)' })
      .option('amend', { type: 'boolean', describe: "Replace the head checkpoint: same parents, the output given (if any) merged into its stages, its message kept unless -m" })
      .option('retry', { type: 'number', describe: 'Retry this many times if another writer moves the timeline meanwhile' })
      .example(`$0 commit -s detect --json '{"count": 3}' -m "first pass" --run r42`, 'record a JSON output')
      .example('$0 commit -s frames --file frames.bin', 'record a file as bytes, streamed: any size, bounded memory')
      .example('$0 commit -s frames --dir out/frames/', 'record a folder as a tree of files')
      .example('$0 commit -s report --file report.json --json', 'record a parsed JSON file, print the checkpoint as JSON')
      .example('python detect.py | $0 commit -s detect --as json -', 'record what a program prints')
      .example('$0 commit -s changes --git-diff main', "record an agent's working tree against main")
      .example('tail -n 500 worker.jsonl | $0 commit -s log --log-tail --keep 100 -', 'record the last 100 lines of a log')
      .example('$0 commit --amend -m "better message"', 'reword the last checkpoint')
      .example('$0 commit --amend -s detect --file detect.json', 'replace the last checkpoint, with a new detect output')
      .example('$0 commit -s joined --json 1 --parent main --parent strict', 'a checkpoint with two parents'),
  handler: async (args: Args) => {
    const { CkptError, isPlainFileName } = await library()
    if (Array.isArray(args.json)) {
      throw new CkptError('INVALID_ARGUMENT', '--json is given twice: it is either the output (--json LITERAL) or, alone, "print the checkpoint as JSON"; give the output with --file or - to have both')
    }
    const printJson = args.json === ''
    if (args.stage === undefined && !args.amend) throw new CkptError('INVALID_ARGUMENT', 'name the stage: commit -s STAGE (only --amend may leave it out)')
    if (args.amend && (args.parent !== undefined || args.retry !== undefined)) throw new CkptError('INVALID_ARGUMENT', '--amend keeps the head\'s parents: it takes no --parent or --retry')
    // Bytes read from --file, stdin or --dir (or hashed, for an unchanged file), of the size when known.
    const size: Sized = {}
    const progress = new Progress(args.dir !== undefined ? `reading ${args.dir}` : `storing ${args.file ?? 'stdin'}`, 'bytes')
    const onBytes = (read: number) => progress.update(read, size.bytes)
    // Everything that reads the output runs under the bar: a failure clears it before the error.
    const record = async () => {
      const output = args.amend && !hasOutputSource(args) ? undefined : await readOutput(args, CkptError, size, onBytes)
      const parents = args.parent ?? []
      // Bytes read from a file keep its name: `ckpt restore` writes them back as report.pdf.
      const fileName = output instanceof ReadStream && args.file !== undefined ? path.basename(args.file) : undefined
      const config = args.config === undefined ? undefined : await parseJsonArgument(args.config, '--config')
      const meta = await parseKeyValues(args.meta, '--meta')
      return withStore(args, (store) =>
        (args.amend ? store.amend.bind(store) : store.commit.bind(store))({
          ...(args.stage !== undefined && { stage: args.stage }),
          ...(output !== undefined && { output }),
          ...(args.meta !== undefined && { meta }),
          onBytes,
          ...(config !== undefined && { config }),
          ...(args.timeline !== undefined && { timeline: args.timeline }),
          ...(args.message !== undefined && { message: args.message }),
          ...(args.run !== undefined && { run: args.run }),
          ...(args.job !== undefined && { job: args.job }),
          ...(parents.length === 1 && { parent: parents[0] }),
          ...(parents.length > 1 && { parents }),
          ...(args.retry !== undefined && { retry: args.retry }),
          ...(fileName !== undefined && args.stage !== undefined && isPlainFileName(fileName) && { fileNames: { [args.stage]: fileName } }),
        }),
      )
    }
    const checkpoint = await progress.track(record())
    if (printJson) jsonLine(checkpointJson(checkpoint))
    else out.line(checkpoint.shortId)
  },
}

type ErrorClass = Awaited<ReturnType<typeof library>>['CkptError']

/** Whether an output is given at all (`--amend` may change only the message). */
function hasOutputSource(args: Args): boolean {
  return (args.json !== undefined && args.json !== '') || args.file !== undefined || args.dir !== undefined || args.gitDiff !== undefined || args.input !== undefined
}

/** The size of what is read, once known (a file; stdin when it is one). */
interface Sized {
  bytes?: number
}

async function readOutput(args: Args, CkptError: ErrorClass, size: Sized, onBytes: (read: number) => void): Promise<unknown> {
  const literal = args.json !== undefined && args.json !== '' ? args.json : undefined
  // yargs hands a lone "-" to a string positional as ''.
  const fromStdin = args.input === '' || args.input === '-'
  if (args.input !== undefined && !fromStdin) {
    throw new CkptError('INVALID_ARGUMENT', `unexpected argument "${args.input}": give - to read stdin, or --file PATH`)
  }
  const sources = [literal, args.file, args.dir, args.gitDiff, fromStdin ? '-' : undefined].filter((s) => s !== undefined)
  if (sources.length !== 1) {
    throw new CkptError('INVALID_ARGUMENT', 'give the output with exactly one of --json LITERAL, --file PATH, --dir PATH, --git-diff [BASE] or - (stdin)')
  }
  if (args.keep !== undefined && !(Number.isInteger(args.keep) && args.keep >= 0)) throw new CkptError('INVALID_ARGUMENT', `--keep: "${String(args.keep)}" is not a count of lines`, { details: { value: args.keep } })
  if (args.keep !== undefined && !args.logTail) throw new CkptError('INVALID_ARGUMENT', '--keep goes with --log-tail')
  if (args.all && args.dir === undefined) throw new CkptError('INVALID_ARGUMENT', '--all goes with --dir')
  // Waiting silently on a terminal looks like a hang.
  if (fromStdin && process.stdin.isTTY) process.stderr.write(`reading the output of stage ${args.stage} from the terminal; end it with Ctrl-D\n`)
  const { onPath, gitWorkingTreeDiff, logTail } = await library()
  if (args.gitDiff !== undefined) return gitWorkingTreeDiff(process.cwd(), { base: args.gitDiff === '' ? 'HEAD' : args.gitDiff })
  if (args.dir !== undefined) return onPath(args.dir, () => readFolder(args.dir as string, args.all === true, onBytes), 'cannot read --dir')
  if (args.logTail) {
    const file = args.file
    const text = (file !== undefined ? await onPath(file, () => readFile(file), 'cannot read --file') : await readStdin()).toString('utf8')
    return logTail(logLines(text), args.keep === undefined ? {} : { keep: args.keep })
  }
  if (literal !== undefined) return parseJsonArgument(literal, '--json')
  const asJson = args.as === 'json' || (args.as === undefined && args.file?.endsWith('.json') === true)
  if (asJson) {
    const file = args.file
    const text = (file !== undefined ? await onPath(file, () => readFile(file), 'cannot read --file') : await readStdin()).toString('utf8')
    return parseJsonArgument(text, args.file ?? 'stdin')
  }
  // Bytes are streamed into the store as they are read: a file of any size in bounded memory.
  const file = args.file
  if (file === undefined) {
    const stdin = (() => {
      try {
        return fstatSync(0)
      } catch {
        return undefined // no stdin at all: read as empty
      }
    })()
    if (stdin?.isFile()) size.bytes = stdin.size
    return process.stdin
  }
  return onPath(file, () => openFile(file, size), 'cannot read --file')
}

/** The file as a plain file stream: the store then tells an unchanged file from its stat. */
async function openFile(file: string, size: Sized): Promise<ReadStream> {
  const found = await stat(file)
  if (found.isDirectory()) throw Object.assign(new Error(`${file} is a folder`), { code: 'EISDIR' })
  size.bytes = found.size
  return createReadStream(file, { highWaterMark: 1024 * 1024 })
}

/** A folder as `--dir` takes it: what git would consider when it is in a work tree, never `.git`, unless `all`. */
async function readFolder(dir: string, all: boolean, onBytes: (read: number) => void) {
  const { readDirectory, gitVisibleFiles } = await library()
  if (all) return readDirectory(dir, { onBytes })
  const visible = await gitVisibleFiles(dir)
  const folders = visible && new Set([...visible].flatMap((file) => file.split('/').slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join('/'))))
  return readDirectory(dir, {
    onBytes,
    include: (file, isFolder) => {
      if (file.split('/').includes('.git')) return false
      if (!visible || !folders) return true
      return isFolder ? folders.has(file) : visible.has(file)
    },
  })
}

/** Log lines as `--log-tail` reads them: JSON lines `{source, text, seq?, time?}`, or plain text (source `stdout`). */
function logLines(text: string): Array<{ source: string; text: string; seq?: number; time?: number }> {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      if (line.startsWith('{')) {
        try {
          const parsed = JSON.parse(line) as { source?: unknown; text?: unknown; seq?: unknown; time?: unknown }
          if (typeof parsed.text === 'string') {
            return {
              source: typeof parsed.source === 'string' ? parsed.source : 'stdout',
              text: parsed.text,
              ...(typeof parsed.seq === 'number' && { seq: parsed.seq }),
              ...(typeof parsed.time === 'number' && { time: parsed.time }),
            }
          }
        } catch {
          // not JSON: a plain line that starts with a brace
        }
      }
      return { source: 'stdout', text: line }
    })
}

async function readStdin(): Promise<Buffer> {
  const pieces: Buffer[] = []
  for await (const piece of process.stdin) pieces.push(piece as Buffer)
  return Buffer.concat(pieces)
}



import type { Argv } from 'yargs'
import type { AttemptLogView, LogLine } from '../../src/index.js'
import { dim, jsonLine, out, red, yellow } from '../output.js'
import { library, withStore } from '../store.js'

interface Args {
  store?: string
  run: string
  stage?: string
  attempt?: number
  follow?: boolean
  json?: boolean
}

function header(view: AttemptLogView): string {
  const status = view.status === 'running' ? yellow('running') : view.status === 'failed' ? red(view.timedOut ? 'timed out' : 'failed') : view.status
  return `${dim(`== ${view.stage}, attempt ${view.attempt}:`)} ${status}${view.truncated ? dim(' (earlier lines dropped)') : ''}`
}

export const logsCommand = {
  command: 'logs <run> [stage]',
  describe: "Print what a run's stages logged, attempt by attempt (--follow while it runs)",
  builder: (y: Argv) =>
    y
      .positional('run', { type: 'string', demandOption: true, describe: 'The run id' })
      .positional('stage', { type: 'string', describe: 'Only this stage' })
      .option('attempt', { type: 'number', describe: 'Only this attempt (1 for the first)' })
      .option('follow', { alias: 'f', type: 'boolean', describe: 'Keep printing new lines until the run ends' })
      .option('json', { type: 'boolean', describe: 'One JSON object per line: {stage, attempt, seq, time, source, text}' })
      .example('$0 logs run-20261122T0800Z-1a2b3c', 'every attempt of every stage')
      .example('$0 logs run-20261122T0800Z-1a2b3c ocr --attempt 1', "the first attempt's lines of one stage")
      .example('$0 logs run-20261122T0800Z-1a2b3c -f', 'follow a run from another terminal'),
  handler: async (args: Args) => {
    const { CkptError, readLogs, followLogs } = await library()
    if (args.attempt !== undefined && (!Number.isInteger(args.attempt) || args.attempt < 1)) {
      throw new CkptError('INVALID_ARGUMENT', `--attempt: "${String(args.attempt)}" is not an attempt number (1 or more)`, { details: { value: args.attempt } })
    }
    const query = { ...(args.stage !== undefined && { stage: args.stage }), ...(args.attempt !== undefined && { attempt: args.attempt }) }
    await withStore(args, async (store) => {
      let current = ''
      const print = (view: AttemptLogView, line: LogLine) => {
        if (args.json) return jsonLine({ stage: view.stage, attempt: view.attempt, ...line })
        const key = `${view.stage}\n${view.attempt}`
        if (key !== current) out.line(header(view))
        current = key
        out.line(line.source === 'stderr' ? red(line.text) : line.text)
      }
      if (args.follow) {
        await followLogs(store, args.run, query, print, { onSkipped: (view, n) => !args.json && out.line(dim(`(${n} lines of ${view.stage} attempt ${view.attempt} went by unseen)`)) })
        return
      }
      for (const view of await readLogs(store, args.run, query)) {
        if (view.lines.length === 0 && !args.json) out.line(header(view) + dim(' (no lines)'))
        for (const line of view.lines) print(view, line)
      }
    })
  },
}

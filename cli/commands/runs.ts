import type { Argv } from 'yargs'
import type { RunStatus, RunSummary } from '../../src/index.js'
import { ageOption } from '../duration.js'
import { dim, green, humanTime, jsonLine, out, red, yellow } from '../output.js'
import { library, withStore } from '../store.js'

interface Args {
  store?: string
  job?: string
  status?: RunStatus
  timeline?: string
  since?: string
  json?: boolean
}

const STATUSES: readonly RunStatus[] = ['running', 'succeeded', 'failed', 'interrupted']

const colour: Record<RunStatus, (text: string) => string> = { running: yellow, succeeded: green, failed: red, interrupted: red }

function runJson(run: RunSummary) {
  return { ...run, started: run.started.toISOString(), finished: run.finished?.toISOString() ?? null }
}

export const runsCommand = {
  command: 'runs',
  describe: 'List pipeline runs, newest first, with their job, timeline and status',
  builder: (y: Argv) =>
    y
      .option('job', { type: 'string', describe: 'Only runs of this job' })
      .option('status', { type: 'string', choices: STATUSES, describe: 'Only runs in this state (interrupted: its process is gone)' })
      .option('timeline', { alias: 't', type: 'string', describe: 'Only runs recording on this timeline' })
      .option('since', { type: 'string', describe: 'Only runs started within this age or after this date (90d, 12h, 2.weeks.ago, 2026-11-22)' })
      .option('json', { type: 'boolean', describe: 'One JSON object per run' })
      .example('$0 runs --status failed', 'what to resume')
      .example('$0 runs --job video-17 -n 1 --json | jq -r .timeline', 'which timeline job video-17 uses')
      .example('$0 runs --since 1d', "today's runs")
      .option('n', { alias: 'max-count', type: 'number', describe: 'Show at most N runs' }),
  handler: async (args: Args & { n?: number }) => {
    const { CkptError } = await library()
    if (args.n !== undefined && (!Number.isInteger(args.n) || args.n < 0)) {
      throw new CkptError('INVALID_ARGUMENT', `-n: "${String(args.n)}" is not a count (a whole number, 0 or more)`, { details: { value: args.n } })
    }
    const since = args.since === undefined ? undefined : Date.now() - (await ageOption('--since', args.since))
    const runs = await withStore(args, (store) =>
      store.runs({
        ...(args.job !== undefined && { job: args.job }),
        ...(args.status !== undefined && { status: args.status }),
        ...(args.timeline !== undefined && { timeline: args.timeline }),
        ...(since !== undefined && { since }),
      }),
    )
    const shown = args.n === undefined ? runs : runs.slice(0, args.n)
    if (args.json) return shown.forEach((r) => jsonLine(runJson(r)))
    const width = Math.max(6, ...shown.map((r) => r.runId.length))
    for (const r of shown) {
      const counts = r.stages ? dim(`${r.stages.succeeded} ran, ${r.stages.reused} reused, ${r.stages.failed} failed, ${r.stages.skipped} skipped`) : ''
      const where = r.timeline ?? '(detached)'
      out.line(`${r.runId.padEnd(width)}  ${colour[r.status](r.status.padEnd(11))}  ${humanTime(r.started)}  ${where}${r.jobId === null ? '' : `  job ${r.jobId}`}  ${counts}`.trimEnd())
    }
  },
}

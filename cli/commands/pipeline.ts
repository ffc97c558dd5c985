import type { Argv } from 'yargs'
import type { ConfigValue, PipelineEvent, PipelineModule, PipelineState, PlannedStage, RunResult, Store } from '../../src/index.js'
import { dim, green, humanTime, jsonLine, out, red, yellow } from '../output.js'
import { library, parseJsonArgument, withStore } from '../store.js'

/** Exit status of run, resume and replay when a stage failed (the run is recorded and resumable). */
export const RUN_FAILED_EXIT = 10

interface PipelineArgs {
  store?: string
  file: string
  json?: boolean
  config?: string
  inputs?: string
  timeline?: string
  run?: string
  job?: string
  concurrency?: number
  reuse?: boolean
  strict?: boolean
  checkpoint?: boolean
}

/** Loads FILE: a JavaScript module exporting a pipeline (default export or `pipeline`) and optionally `inputs` or `defaultInputs()`. */
async function loadPipeline(file: string): Promise<PipelineModule> {
  const { loadPipelineModule } = await library()
  return loadPipelineModule(file)
}

async function parseJsonFlag<T>(text: string | undefined, flag: string): Promise<T | undefined> {
  return text === undefined ? undefined : ((await parseJsonArgument(text, `--${flag}`)) as T)
}

/** The pipeline module and the --config and --inputs flags, parsed. */
async function pipelineArgs(args: PipelineArgs) {
  const mod = await loadPipeline(args.file)
  const config = await parseJsonFlag<Record<string, Record<string, ConfigValue>>>(args.config, 'config')
  const inputs = (await parseJsonFlag<PipelineState>(args.inputs, 'inputs')) ?? mod.inputs
  return { mod, config, inputs }
}

/** Live progress: one line per event on stderr, only when stderr is a terminal (or always with --progress). */
function progressPrinter(json: boolean | undefined): (event: PipelineEvent) => void {
  return (event) => {
    if (json) return jsonLine(event)
    if (!process.stderr.isTTY) return
    const line =
      event.type === 'stage-started' ? `${yellow('▶')} ${event.stage}`
      : event.type === 'stage-finished' ? `${green('✓')} ${event.stage} ${dim(`${event.durationMs} ms`)}`
      : event.type === 'stage-failed' ? `${red('✗')} ${event.stage}: ${event.error}`
      : event.type === 'stage-retrying' ? `${yellow('↻')} ${event.stage}: attempt ${event.attempt} failed (${event.error}); retrying in ${event.delayMs} ms`
      : event.type === 'stage-reused' ? `${green('↺')} ${event.stage} ${dim('reused')}`
      : event.type === 'stage-skipped' ? `${dim(`– ${event.stage} skipped: ${event.reason}`)}`
      : event.type === 'persistence-error' ? `${red('!')} ${event.stage}: checkpoint not written: ${event.error}`
      : event.type === 'observer-error' ? `${red('!')} event handler failed on ${event.event}: ${event.error}`
      : undefined
    if (line) process.stderr.write(line + '\n')
  }
}

function printResult(result: RunResult, json: boolean | undefined, file: string, recorded = true): void {
  if (json) {
    const { runId, timeline, status, stages, persistenceErrors, observerErrors } = result
    jsonLine({ type: 'result', runId, timeline, status, head: result.head ?? null, recorded, stages, persistenceErrors, observerErrors })
  } else {
    out.line(`run ${result.runId} on ${result.timeline}: ${result.status === 'succeeded' ? green('succeeded') : red('failed')}${recorded ? '' : dim(' (--no-checkpoint: nothing recorded)')}`)
    for (const s of result.stages) out.line(`  ${s.stage.padEnd(16)} ${s.status}${s.error ? `: ${s.error}` : ''}`)
    if (result.status === 'failed' && recorded) out.line(dim(`resume with: ckpt resume ${shellWord(file)} --run ${shellWord(result.runId)}`))
  }
  if (result.status === 'failed') process.exitCode = RUN_FAILED_EXIT
}

/** `text` as one word for a POSIX shell: as it is when that is safe, else single-quoted. */
function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`
}

function printPlan(planned: PlannedStage[], json: boolean | undefined): void {
  for (const p of planned) {
    if (json) jsonLine(p)
    else {
      const policy = p.policy ? dim(`  (retries ${p.policy.retries}${p.policy.timeoutMs === undefined ? '' : `, timeout ${p.policy.timeoutMs} ms`})`) : ''
      out.line(`${p.stage.padEnd(16)} ${(p.action === 'run' ? yellow : p.action === 'reuse' ? green : dim)(p.action.padEnd(6))} ${p.reason}${policy}`)
    }
  }
}

const common = (y: Argv) =>
  y
    .positional('file', { type: 'string', demandOption: true, describe: 'A JavaScript module exporting the pipeline' })
    .option('config', { type: 'string', describe: 'Config overrides as JSON: {"stage": {"field": value}}' })
    .option('json', { type: 'boolean', describe: 'Events and the result as JSON lines' })
    .option('concurrency', { type: 'number', describe: 'Independent stages to run at once (default 1)' })
    .option('reuse', { type: 'boolean', default: true, describe: 'Reuse outputs of identical earlier executions (--no-reuse to always run)' })
    .option('strict', { type: 'boolean', describe: 'Fail the run when a checkpoint cannot be written' })

const execution = (args: PipelineArgs, store: Store, onEvent: (e: PipelineEvent) => void) => ({
  store,
  onEvent,
  captureOutput: true,
  ...(args.concurrency !== undefined && { concurrency: args.concurrency }),
  ...(args.reuse === false && { reuse: false }),
  ...(args.strict && { strict: true }),
})

export const runCommand = {
  command: 'run <file>',
  describe: 'Run a pipeline, one checkpoint per successful stage',
  builder: (y: Argv) =>
    common(y)
      .option('timeline', { alias: 't', type: 'string', describe: 'Timeline to record on (default: the one HEAD is on)' })
      .option('inputs', { type: 'string', describe: 'Pipeline inputs as JSON (default: what FILE exports as inputs)' })
      .option('run', { type: 'string', describe: 'Run id (default: generated)' })
      .option('job', { type: 'string', describe: 'Job id' })
      .option('checkpoint', { type: 'boolean', default: true, describe: 'Record checkpoints (--no-checkpoint: run every stage and write nothing to the store)' })
      .example('$0 run pipeline.js', 'run it on the current timeline')
      .example('$0 run pipeline.js --no-checkpoint', 'a dry run: the stages run, the store is left as it was')
      .example(`$0 run pipeline.js -t tuning --config '{"detect": {"threshold": 0.7}}'`, 'run with a setting changed, on its own timeline'),
  handler: async (args: PipelineArgs) => {
    const { run } = await library()
    const { mod, config, inputs } = await pipelineArgs(args)
    const result = await withStore(args, (store) =>
      run({
        ...execution(args, store, progressPrinter(args.json)),
        pipeline: mod.pipeline,
        ...(inputs && { inputs }),
        ...(config && { config }),
        ...(args.timeline && { timeline: args.timeline }),
        ...(args.run && { runId: args.run }),
        ...(args.job && { jobId: args.job }),
        ...(args.checkpoint === false && { checkpoint: false }),
      }),
    )
    printResult(result, args.json, args.file, args.checkpoint !== false)
  },
}

export const resumeCommand = {
  command: 'resume <file>',
  describe: 'Continue a run (--run), or run on from HEAD, e.g. after `ckpt checkout`',
  builder: (y: Argv) =>
    common(y)
      .option('run', { type: 'string', describe: 'The run to continue (default: run on from the checkpoint HEAD is on)' })
      .option('timeline', { alias: 't', type: 'string', describe: 'Without --run: record on this timeline instead of HEAD\'s' })
      .example('$0 resume pipeline.js --run run-20261122T0800Z-1a2b3c', 'finish a run that failed or was killed')
      .example('$0 checkout main~3 && $0 resume pipeline.js', 'go back three checkpoints and continue from there'),
  handler: async (args: PipelineArgs) => {
    const { run, resume } = await library()
    const mod = await loadPipeline(args.file)
    const result = await withStore(args, (store) => {
      const common = { ...execution(args, store, progressPrinter(args.json)), pipeline: mod.pipeline }
      if (args.run) return resume({ ...common, runId: args.run })
      return run({ ...common, from: 'HEAD', ...(args.timeline && { timeline: args.timeline }), ...(mod.inputs && { inputs: mod.inputs }) })
    })
    printResult(result, args.json, args.file)
  },
}

export const replayCommand = {
  command: 'replay <file>',
  describe: 'Re-run a pipeline from one stage on a new timeline, with config changes',
  builder: (y: Argv) =>
    common(y)
      .option('from', { type: 'string', demandOption: true, describe: 'The first stage to run again' })
      .option('timeline', { alias: 't', type: 'string', demandOption: true, describe: 'The new timeline' })
      .option('run', { type: 'string', describe: 'The run to replay (default: the run of the checkpoint HEAD is on)' })
      .option('job', { type: 'string', describe: 'Job id of the new run (default: the replayed run\'s)' })
      .example(`$0 replay pipeline.js --from ocr --config '{"ocr": {"lang": "de"}}' -t german`, 'try another OCR language; earlier stages are kept')
      .example('$0 diff main german', 'then see what moved'),
  handler: async (args: PipelineArgs & { from: string; timeline: string }) => {
    const { replay } = await library()
    const { mod, config } = await pipelineArgs(args)
    const result = await withStore(args, async (store) => {
      const source = args.run ? { runId: args.run } : { from: 'HEAD' }
      return replay({ ...execution(args, store, progressPrinter(args.json)), pipeline: mod.pipeline, startStage: args.from, timeline: args.timeline, ...source, ...(config && { config }), ...(args.job && { jobId: args.job }) })
    })
    printResult(result, args.json, args.file)
  },
}

export const planCommand = {
  command: 'plan <file>',
  describe: 'Show what run, resume or replay would do for each stage, and why, without running',
  builder: (y: Argv) =>
    common(y)
      .option('run', { type: 'string', describe: 'Plan resuming this run' })
      .option('replay', { type: 'string', describe: 'Plan a replay from this stage' })
      .option('inputs', { type: 'string', describe: 'Pipeline inputs as JSON (for a new run)' })
      .example('$0 plan pipeline.js', 'what a new run would reuse and run')
      .example('$0 plan pipeline.js --run run-20261122T0800Z-1a2b3c', 'what resuming that run would do')
      .example(`$0 plan pipeline.js --replay ocr --config '{"ocr": {"lang": "de"}}'`, 'what a replay would rerun'),
  handler: async (args: PipelineArgs & { replay?: string }) => {
    const { plan } = await library()
    const { mod, config, inputs } = await pipelineArgs(args)
    const planned = await withStore(args, (store) => {
      const base = { store, pipeline: mod.pipeline, ...(args.reuse === false && { reuse: false }) }
      if (args.replay) return plan({ kind: 'replay', ...base, startStage: args.replay, ...(args.run ? { runId: args.run } : { from: 'HEAD' }), ...(config && { config }) })
      if (args.run) return plan({ kind: 'resume', ...base, runId: args.run })
      return plan({ kind: 'run', ...base, ...(inputs && { inputs }), ...(config && { config }) })
    })
    printPlan(planned, args.json)
  },
}

export const auditCommand = {
  command: 'audit <run>',
  describe: "Show a run's audit log: every stage execution with status, timing, inputs and output",
  builder: (y: Argv) =>
    y
      .positional('run', { type: 'string', demandOption: true })
      .option('json', { type: 'boolean', describe: 'One JSON object per entry' })
      .example('$0 audit run-20261122T0800Z-1a2b3c', 'what ran, for how long, and what failed'),
  handler: async (args: { store?: string; run: string; json?: boolean }) => {
    const { readAudit, shortIdOf } = await library()
    const entries = await withStore(args, (store) => readAudit(store, args.run))
    for (const e of entries) {
      if (args.json) {
        jsonLine({ ...e, start: e.start.toISOString(), end: e.end.toISOString() })
        continue
      }
      const status = e.status === 'failed' ? red(e.status) : green(e.status)
      out.line(`${humanTime(e.start)}  ${e.stage.padEnd(16)} ${status.padEnd(9)} ${String(e.durationMs).padStart(6)} ms  ${e.output ? shortIdOf(e.output) : ''}${e.error ? `  ${e.error.message}` : ''}`)
    }
  },
}

import { CkptError, isCkptError, replay, resume, runSummary, type ConfigValue, type PipelineModule, type RunResult } from '../src/index.js'
import type { ServerContext } from './context.js'

/** A replay as the API takes it: from `stage`, of checkpoint `from` (default HEAD) or of run `run`. */
export interface ReplayRequest {
  readonly stage: string
  readonly from?: string
  readonly run?: string
  readonly config?: Record<string, Record<string, ConfigValue>>
  readonly timeline?: string
  readonly jobId?: string
}

/** What replay and resume answer: the run, and how many stages executed, were reused, failed. */
export interface RunReport {
  readonly runId: string
  readonly timeline: string
  readonly status: 'succeeded' | 'failed'
  readonly head: string | null
  readonly counts: { readonly executed: number; readonly reused: number; readonly failed: number }
  readonly stages: ReadonlyArray<{ readonly stage: string; readonly status: string; readonly error?: string }>
}

export function pipelineNamed(ctx: ServerContext, name: string): PipelineModule {
  const found = ctx.pipelines.get(name)
  if (found) return found
  const known = [...ctx.pipelines.keys()]
  throw new CkptError('NOT_FOUND', `no pipeline named ${JSON.stringify(name)} is served${known.length ? ` (serving: ${known.join(', ')})` : ' (start the server with --pipeline FILE)'}`)
}

export function runReport(result: RunResult): RunReport {
  const count = (...statuses: string[]) => result.stages.filter((s) => statuses.includes(s.status)).length
  return {
    runId: result.runId,
    timeline: result.timeline,
    status: result.status,
    head: result.head ?? null,
    counts: { executed: count('succeeded', 'failed'), reused: count('reused', 'completed-earlier'), failed: count('failed') },
    stages: result.stages.map((s) => ({ stage: s.stage, status: s.status, ...(s.error !== undefined && { error: s.error }) })),
  }
}

/** A timeline name for a replay that names none: `replay-<stage>-<UTC time>`. */
function replayTimeline(stage: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')
  return `replay-${stage}-${stamp}`
}

const publishRunEvents = (ctx: ServerContext) => (event: object) => ctx.events.publish({ type: 'run', data: event })

export async function replayPipeline(ctx: ServerContext, pipelineName: string, request: ReplayRequest): Promise<RunReport> {
  const { pipeline } = pipelineNamed(ctx, pipelineName)
  const result = await replay({
    store: ctx.store,
    pipeline,
    startStage: request.stage,
    timeline: request.timeline ?? replayTimeline(request.stage),
    ...(request.run !== undefined ? { runId: request.run } : { from: request.from ?? 'HEAD' }),
    ...(request.config !== undefined && { config: request.config }),
    ...(request.jobId !== undefined && { jobId: request.jobId }),
    captureOutput: true,
    onEvent: publishRunEvents(ctx),
  })
  ctx.watcher.poke()
  return runReport(result)
}

/** The pipeline a recorded run ran, read from its one status pointer; undefined for an unknown (or ill-formed) run id. */
async function recordedPipeline(ctx: ServerContext, runId: string): Promise<string | undefined> {
  try {
    return (await runSummary(ctx.store, runId))?.pipeline
  } catch (err) {
    if (isCkptError(err, 'INVALID_REF_NAME')) return undefined
    throw err
  }
}

export async function resumeRun(ctx: ServerContext, runId: string, pipelineName?: string): Promise<RunReport> {
  const name = pipelineName ?? (await recordedPipeline(ctx, runId))
  if (name === undefined) throw new CkptError('RUN_NOT_FOUND', `no run ${JSON.stringify(runId)} is recorded in this store`)
  const { pipeline } = pipelineNamed(ctx, name)
  const result = await resume({ store: ctx.store, pipeline, runId, captureOutput: true, onEvent: publishRunEvents(ctx) })
  ctx.watcher.poke()
  return runReport(result)
}

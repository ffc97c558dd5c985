import { randomBytes } from 'node:crypto'
import { CkptError, isCkptError, quoted } from '../errors.js'
import { outputIdOf } from '../core/commit.js'
import type { CheckpointStore } from '../core/checkpoint-store.js'
import type { Checkpoint } from '../core/types.js'
import { shortIdOf } from '../model/cid.js'
import { findRunIdViolation } from '../model/name-rules.js'
import type { OutputValue } from '../model/value.js'
import { checkRefName, isValidRefName } from '../refs/names.js'
import { appendAudit, readAudit } from './audit.js'
import { RunObserver } from './observer.js'
import { runAttempts, type AttemptRecord } from './attempts.js'
import { AttemptLog, DEFAULT_LOG_LINES, captureStageOutput, liveLogPointer, withAttemptLog } from './stage-log.js'
import { RunTracker, startedRunMoves } from './runs.js'
import { buildGraph, effectiveConfig, type PipelineGraph } from './graph.js'
import type {
  ConfigValue,
  PipelineEvent,
  PipelineState,
  PlannedStage,
  RunOptions,
  RunResult,
  SerializeContext,
  StageDefinition,
  StageResult,
} from './types.js'

/*
 * Index pointers the runtime keeps (store.index):
 *   runs/<run>      → the run record (pipeline, timeline, inputs, config, where it started)
 *   run-heads/<run> → the run's newest checkpoint
 *   inputs/<key>    → a checkpoint whose stage ran successfully with that input key
 *   audit/<run>     → the newest audit node of the run (audit.ts)
 */

interface RunRecord {
  readonly type: 'ckpt-run'
  readonly runId: string
  readonly jobId: string | null
  readonly pipeline: string
  /** null: the run moves a detached HEAD. */
  readonly timeline: string | null
  readonly inputs: string
  readonly config: Record<string, Record<string, ConfigValue>>
  readonly base: string | null
  /** Stages whose outputs the run started with (continuing from a checkpoint, or a replay). */
  readonly startedWith: string[]
}

type Config = Map<string, Record<string, ConfigValue>>

/** Everything an execution (or a plan) needs, prepared and validated before any stage runs. */
interface Setup {
  readonly store: CheckpointStore
  readonly graph: PipelineGraph
  readonly configs: Config
  readonly runId: string
  readonly jobId?: string
  readonly timeline: string | null
  /** The checkpoint the run's first new checkpoint will have as parent. */
  readonly base?: string
  /** Stages whose outputs the run starts with: stage → checkpoint holding them. */
  readonly completed: Map<string, string>
  readonly state: PipelineState
  /** Why completed stages are not run, for plans. */
  readonly keptBecause: string
  /** The history plans compare against to explain why a stage must run. */
  readonly previous?: string
  /** A resume of a recorded run (its status moves back to running). */
  readonly resumed?: boolean
  readonly options: Pick<RunOptions, 'reuse' | 'concurrency' | 'strict' | 'onEvent' | 'signal' | 'checkpoint' | 'captureOutput'>
}

const runPointer = (runId: string) => `runs/${runId}`
const headPointer = (runId: string) => `run-heads/${runId}`
const inputPointer = (key: string) => `inputs/${key}`

/** Runs a pipeline, recording one checkpoint per successful stage; see {@link RunOptions}. */
export async function run(options: RunOptions): Promise<RunResult> {
  requireParts(options)
  return execute(await prepareRun(options, { dryRun: options.checkpoint === false }))
}

export interface ResumeOptions extends Pick<RunOptions, 'store' | 'pipeline' | 'reuse' | 'concurrency' | 'strict' | 'onEvent' | 'signal' | 'captureOutput'> {
  readonly runId: string
}

/**
 * Continues a run: restores the outputs of the stages it completed and runs only the others.
 * A finished run runs nothing and returns its stored result. RUN_NOT_FOUND for an unknown id.
 */
export async function resume(options: ResumeOptions): Promise<RunResult> {
  requireParts(options)
  return execute(await prepareResume(options))
}

export interface ReplayOptions extends Omit<RunOptions, 'from' | 'timeline' | 'inputs'> {
  /** The run to replay (or give `from`, a checkpoint whose history holds the stages). */
  readonly runId?: string
  readonly from?: string
  /** The first stage to run again; stages before it keep their outputs. */
  readonly startStage: string
  /** The new timeline, forked from the checkpoint just before `startStage`. */
  readonly timeline: string
}

/**
 * Re-runs a pipeline from `startStage` on a new timeline, with config overrides applied on top of
 * the original run's config. The original timeline is untouched; unchanged stages are reused by
 * input key, so only what the overrides touch executes.
 */
export async function replay(options: ReplayOptions): Promise<RunResult> {
  requireParts(options)
  return execute(await prepareReplay(options))
}

export type PlanRequest =
  | ({ readonly kind: 'run' } & RunOptions)
  | ({ readonly kind: 'resume' } & ResumeOptions)
  | ({ readonly kind: 'replay' } & Omit<ReplayOptions, 'timeline'> & { readonly timeline?: string })

/** What run, resume or replay would do, per stage, without running or writing anything. */
export async function plan(request: PlanRequest): Promise<PlannedStage[]> {
  requireParts(request)
  const setup =
    request.kind === 'run'
      ? await prepareRun(request, { dryRun: true })
      : request.kind === 'resume'
        ? await prepareResume(request)
        : await prepareReplay({ ...request, timeline: request.timeline ?? 'plan' }, { dryRun: true })
  return planStages(setup)
}

/** A caller without types (JavaScript, a cast) gets a clear error for a missing store or pipeline, not a TypeError. */
function requireParts(options: { readonly store?: unknown; readonly pipeline?: unknown }): void {
  for (const part of ['store', 'pipeline'] as const) {
    if (options[part] === undefined || options[part] === null) {
      throw new CkptError('INVALID_ARGUMENT', `no ${part} given: pass \`${part}\` in the options`, { details: { missing: part } })
    }
  }
}

function newRunId(): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')
  return `run-${stamp}-${randomBytes(3).toString('hex')}`
}

/** RUN_NOT_FOUND (or INVALID_REF_NAME) unless `runId` names a run recorded in `store`. */
export async function assertRunRecorded(store: CheckpointStore, runId: string): Promise<void> {
  await readRecord(store, runId)
}

async function readRecord(store: CheckpointStore, runId: string): Promise<RunRecord> {
  checkRefName(runId, 'run id')
  const id = await store.index.get(runPointer(runId))
  if (!id) throw new CkptError('RUN_NOT_FOUND', `no run "${runId}" is recorded in this store`, { details: { runId } })
  return (await store.getOutput(id)) as unknown as RunRecord
}

async function prepareRun(options: RunOptions, { dryRun = false } = {}): Promise<Setup> {
  const { store } = options
  const graph = buildGraph(options.pipeline)
  const configs = effectiveConfig(graph, options.config)
  const runId = options.runId ?? newRunId()
  checkRefName(runId, 'run id')
  checkJobId(options.jobId)
  if (await store.index.get(runPointer(runId))) {
    throw new CkptError('INVALID_ARGUMENT', `run "${runId}" already exists; resume it, or choose another run id`, { details: { runId } })
  }
  const head = await store.head()
  let timeline: string | null
  let base: string | undefined
  const completed = new Map<string, string>()
  let inputs = options.inputs
  if (options.from !== undefined) {
    const from = await store.getCheckpoint(options.from)
    base = from.id
    timeline = options.timeline ?? (head.detached ? null : (head.timeline ?? null))
    for (const stage of graph.order) if (from.stages[stage.name] !== undefined) completed.set(stage.name, from.id)
    if (inputs === undefined && from.run !== undefined) inputs = await recordedInputs(store, from.run)
    if (timeline !== null && !dryRun) await ensureTimeline(store, timeline, base)
  } else {
    timeline = options.timeline ?? (head.detached ? null : (head.timeline ?? 'main'))
    base = timeline === null ? head.checkpoint : await timelineHead(store, timeline)
  }
  const state = await startingState(store, graph, inputs ?? {}, completed, { runId, ...(options.jobId && { jobId: options.jobId }) })
  const keptBecause = 'present in the starting checkpoint'
  const setup: Setup = { store, graph, configs, runId, timeline, completed, state, options, keptBecause, ...(base && { base, previous: base }), ...(options.jobId && { jobId: options.jobId }) }
  if (!dryRun) await writeRecord(setup, inputs ?? {})
  return setup
}

/** The head of a timeline, or undefined when it does not exist yet. */
async function timelineHead(store: CheckpointStore, timeline: string): Promise<string | undefined> {
  return store.timelines.get(timeline).catch((err: unknown) => {
    if (isCkptError(err, 'NOT_FOUND')) return undefined
    throw err
  })
}

/**
 * Continuing from a checkpoint records on `timeline`: created there when new, used when already
 * there; a timeline that has moved elsewhere is refused rather than silently forked.
 */
async function ensureTimeline(store: CheckpointStore, timeline: string, at: string): Promise<void> {
  const existing = await timelineHead(store, timeline)
  if (existing === undefined) return void (await store.timelines.create(timeline, at))
  if (existing !== at) {
    throw new CkptError('INVALID_ARGUMENT', `timeline "${timeline}" is at ${shortIdOf(existing)}, not at the checkpoint to continue from (${shortIdOf(at)}); name a new timeline, or check out the checkpoint first`, {
      details: { timeline },
    })
  }
}

async function prepareResume(options: ResumeOptions): Promise<Setup> {
  const { store } = options
  const record = await readRecord(store, options.runId)
  const graph = buildGraph(options.pipeline)
  const configs = effectiveConfig(graph, record.config)
  const head = (await store.index.get(headPointer(options.runId))) ?? record.base ?? undefined
  const completed = new Map<string, string>()
  if (head) {
    const ran = await stagesOfRun(store, head, options.runId)
    for (const stage of graph.order) {
      const at = ran.get(stage.name) ?? (record.startedWith.includes(stage.name) ? (record.base ?? head) : undefined)
      if (at) completed.set(stage.name, at)
    }
  }
  const state = await startingState(store, graph, (await store.getOutput(record.inputs)) as PipelineState, completed, { runId: options.runId, ...(record.jobId !== null && { jobId: record.jobId }) })
  return {
    store,
    graph,
    configs,
    runId: options.runId,
    timeline: record.timeline,
    completed,
    state,
    options,
    keptBecause: 'completed in this run',
    resumed: true,
    ...(head && { base: head, previous: head }),
    ...(record.jobId !== null && { jobId: record.jobId }),
  }
}

async function prepareReplay(options: ReplayOptions, { dryRun = false } = {}): Promise<Setup> {
  const { store } = options
  const graph = buildGraph(options.pipeline)
  const startIndex = graph.order.findIndex((s) => s.name === options.startStage)
  if (startIndex === -1) {
    throw new CkptError('INVALID_ARGUMENT', `replay: no stage "${options.startStage}" in the pipeline (stages: ${graph.order.map((s) => s.name).join(', ')})`)
  }
  checkJobId(options.jobId)
  const source = options.runId !== undefined ? await readRecord(store, options.runId) : undefined
  const sourceHead =
    options.from !== undefined ? (await store.getCheckpoint(options.from)).id : await store.index.get(headPointer(options.runId ?? ''))
  if (!sourceHead) throw new CkptError('INVALID_ARGUMENT', 'replay: give a runId that has checkpoints, or `from`')
  // The checkpoint just before the one that recorded startStage.
  let base: string | undefined
  for await (const c of store.log(sourceHead, { firstParent: true })) {
    if (c.stage === options.startStage && (options.runId === undefined || c.run === options.runId)) base = c.parents[0]
  }
  if (base === undefined) base = sourceHead
  const runConfig = mergeConfig(source?.config ?? {}, options.config ?? {})
  const configs = effectiveConfig(graph, runConfig)
  const fromCheckpoint = await store.getCheckpoint(base)
  const completed = new Map<string, string>()
  for (const stage of graph.order.slice(0, startIndex)) if (fromCheckpoint.stages[stage.name] !== undefined) completed.set(stage.name, base)
  const inputs: PipelineState = source
    ? ((await store.getOutput(source.inputs)) as PipelineState)
    : ((fromCheckpoint.run === undefined ? undefined : await recordedInputs(store, fromCheckpoint.run)) ?? {})
  const runId = newRunId()
  // A replay belongs to the job it replays unless told otherwise.
  const jobId = options.jobId ?? source?.jobId ?? fromCheckpoint.job ?? undefined
  if (!dryRun) await store.timelines.create(options.timeline, base)
  const state = await startingState(store, graph, inputs, completed, { runId, ...(jobId !== undefined && { jobId }) })
  const setup: Setup = {
    store,
    graph,
    configs,
    runId,
    timeline: options.timeline,
    base,
    completed,
    state,
    options,
    keptBecause: `kept: runs before ${options.startStage}`,
    previous: sourceHead,
    ...(jobId !== undefined && { jobId }),
  }
  if (!dryRun) await writeRecord(setup, inputs, runConfig)
  return setup
}

function mergeConfig(
  base: Readonly<Record<string, Readonly<Record<string, ConfigValue>>>>,
  overrides: Readonly<Record<string, Readonly<Record<string, ConfigValue>>>>,
): Record<string, Record<string, ConfigValue>> {
  const out: Record<string, Record<string, ConfigValue>> = {}
  for (const stage of new Set([...Object.keys(base), ...Object.keys(overrides)])) out[stage] = { ...base[stage], ...overrides[stage] }
  return out
}

/** A job id goes into every checkpoint of the run: refused up front if `commit` would refuse it. */
function checkJobId(jobId: string | undefined): void {
  const violation = jobId === undefined ? undefined : findRunIdViolation(jobId)
  if (violation) throw new CkptError('INVALID_ARGUMENT', `invalid job id ${quoted(jobId)}: ${violation.reason}`, { details: { jobId, rule: violation.rule } })
}

async function recordedInputs(store: CheckpointStore, runId: string): Promise<PipelineState | undefined> {
  // A checkpoint's run id may come from `commit --run` or an import: only a ref-name id can be a pipeline's.
  if (!isValidRefName(runId)) return undefined
  const id = await store.index.get(runPointer(runId))
  if (!id) return undefined
  const record = (await store.getOutput(id)) as unknown as RunRecord
  return (await store.getOutput(record.inputs)) as PipelineState
}

/** Stage → the checkpoint that recorded it, for `runId`'s checkpoints on the chain ending at `head`. */
async function stagesOfRun(store: CheckpointStore, head: string, runId: string): Promise<Map<string, string>> {
  const stages = new Map<string, string>()
  for await (const c of store.log(head, { firstParent: true })) {
    if (c.run !== runId) break
    if (c.stage !== undefined && !stages.has(c.stage)) stages.set(c.stage, c.id)
  }
  return stages
}

async function writeRecord(setup: Setup, inputs: PipelineState, config?: Record<string, Record<string, ConfigValue>>): Promise<void> {
  const { store, runId } = setup
  const missing = (setup.graph.pipeline.inputs ?? []).filter((key) => !(key in inputs))
  if (missing.length > 0) throw new CkptError('INVALID_ARGUMENT', `pipeline "${setup.graph.pipeline.name}" needs inputs ${missing.map((k) => `"${k}"`).join(', ')}`)
  const record: RunRecord = {
    type: 'ckpt-run',
    runId,
    jobId: setup.jobId ?? null,
    pipeline: setup.graph.pipeline.name,
    timeline: setup.timeline,
    inputs: await store.putOutput(inputs),
    config: config ?? Object.fromEntries(setup.configs),
    base: setup.base ?? null,
    startedWith: [...setup.completed.keys()],
  }
  const recordId = await store.putOutput(record)
  const identity = { runId, jobId: record.jobId, pipeline: record.pipeline, timeline: record.timeline }
  const moves = [{ name: runPointer(runId), expected: null, value: recordId }, ...(await startedRunMoves(store, identity, recordId, Date.now()))]
  await store.index.swapMany(moves, `run: started ${runId}`)
}

/** The run a stage output is read or written for, as its serializer sees it. */
interface RunIds {
  readonly runId: string
  readonly jobId?: string
}

/** Inputs, plus the written keys of every completed stage, read back from the store. */
async function startingState(store: CheckpointStore, graph: PipelineGraph, inputs: PipelineState, completed: ReadonlyMap<string, string>, run: RunIds): Promise<PipelineState> {
  const state: PipelineState = { ...inputs }
  for (const stage of graph.order) {
    const at = completed.get(stage.name)
    if (at) Object.assign(state, await readStageOutput(store, stage, `${at}:${stage.name}`, run))
  }
  return state
}

async function readStageOutput(store: CheckpointStore, stage: StageDefinition, spec: string, run: RunIds): Promise<PipelineState> {
  const data = (await store.getOutput(spec)) as OutputValue
  return stage.deserialize ? stage.deserialize(data, serializeContext(store, stage, run)) : (data as PipelineState)
}

function serializeContext(store: CheckpointStore, stage: StageDefinition, run: RunIds): SerializeContext {
  return { runId: run.runId, ...(run.jobId !== undefined && { jobId: run.jobId }), stage: stage.name, store }
}

/** The input key: a hash of stage name, version, effective config and the ids of the values read. */
function inputKey(stage: StageDefinition, config: Record<string, ConfigValue>, state: PipelineState): { key: string; inputs: Record<string, string> } {
  const inputs: Record<string, string> = {}
  for (const key of [...(stage.reads ?? []), ...(stage.optionalReads ?? [])].sort()) {
    if (state[key] !== undefined) inputs[key] = outputIdOf(state[key])
  }
  const id = outputIdOf({ stage: stage.name, version: stage.version, config, inputs })
  return { key: shortIdOf(id, 64), inputs }
}

function visibleState(stage: StageDefinition, state: PipelineState): PipelineState {
  const view: PipelineState = {}
  for (const key of [...(stage.reads ?? []), ...(stage.optionalReads ?? [])]) if (key in state) view[key] = state[key]
  return Object.freeze(view)
}

type Outcome =
  | { kind: 'completed-earlier' }
  | { kind: 'skipped'; reason: string; failedUpstream: boolean }
  | { kind: 'succeeded'; output: PipelineState; persisted: unknown; key: string; inputs: Record<string, string>; read: PipelineState; start: Date; end: Date; attempts: AttemptRecord[] }
  | { kind: 'reused'; output: PipelineState; key: string; inputs: Record<string, string>; read: PipelineState; from: string; start: Date; end: Date }
  | { kind: 'failed'; error: Error; key: string; inputs: Record<string, string>; read: PipelineState; start: Date; end: Date; attempts: AttemptRecord[] }

/** A promise with its resolve function (Promise.withResolvers needs Node 22). */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}

/** A counting semaphore for `concurrency`. */
function limiter(slots: number): <T>(work: () => Promise<T>) => Promise<T> {
  let free = Math.max(1, slots)
  const waiting: Array<() => void> = []
  return async (work) => {
    if (free === 0) await new Promise<void>((resolve) => waiting.push(resolve))
    else free--
    try {
      return await work()
    } finally {
      const next = waiting.shift()
      if (next) next()
      else free++
    }
  }
}

/** Runs the stages, with their stdout and stderr going to their logs when the run captures output. */
async function execute(setup: Setup): Promise<RunResult> {
  const release = setup.options.captureOutput ? captureStageOutput() : undefined
  try {
    return await executeTracked(setup)
  } finally {
    release?.()
  }
}

/** Runs the stages, keeping the run's status (running, its heartbeat, then its outcome) when it records. */
async function executeTracked(setup: Setup): Promise<RunResult> {
  if (setup.options.checkpoint === false) return executeStages(setup)
  const tracker = await RunTracker.begin(setup.store, setup.runId, setup.resumed === true)
  try {
    const result = await executeStages(setup)
    await tracker.finish(result.status, stageCounts(result.stages))
    return result
  } catch (err) {
    await tracker.finish('failed', null)
    throw err
  }
}

function stageCounts(stages: readonly StageResult[]): Record<'succeeded' | 'reused' | 'failed' | 'skipped', number> {
  const counts = { succeeded: 0, reused: 0, failed: 0, skipped: 0 }
  for (const s of stages) if (s.status !== 'completed-earlier') counts[s.status]++
  return counts
}

async function executeStages(setup: Setup): Promise<RunResult> {
  const { store, graph, runId, options } = setup
  const observer = new RunObserver(runId, options.onEvent, options.strict === true)
  const emit = (event: PipelineEvent) => observer.emit(event)
  // false: a dry run, which writes nothing to the store.
  const recording = options.checkpoint !== false
  const state: PipelineState = { ...setup.state }
  const outcomes = new Map<string, Promise<Outcome>>()
  const slot = limiter(options.concurrency ?? 1)
  const signal = options.signal ?? new AbortController().signal
  // A stage that failed earlier in this run is on its next attempt now.
  const failures = await failuresInRun(store, runId)
  emit({ type: 'run-started', runId, timeline: setup.timeline ?? 'HEAD' })

  // A stage starts only once its upstream stages are recorded, so a crash never loses finished work.
  const recorded = new Map(graph.order.map((s) => [s.name, deferred()]))
  const decide = async (stage: StageDefinition): Promise<Outcome> => {
    const names = [...(graph.upstream.get(stage.name) ?? [])]
    await Promise.all(names.map((name) => recorded.get(name)?.promise))
    const upstream = await Promise.all(names.map(async (name) => [name, await outcomeOf(name)] as const))
    if (setup.completed.has(stage.name)) return { kind: 'completed-earlier' }
    const failed = upstream.find(([, o]) => o.kind === 'failed' || (o.kind === 'skipped' && o.failedUpstream))
    if (failed) return { kind: 'skipped', reason: `upstream stage "${failed[0]}" failed`, failedUpstream: true }
    const missing = (stage.reads ?? []).find((key) => state[key] === undefined)
    if (missing) return { kind: 'skipped', reason: `"${missing}" was not written (its stage was skipped)`, failedUpstream: false }
    const config = setup.configs.get(stage.name) ?? {}
    const view = visibleState(stage, state)
    if (stage.when && !stage.when(view, config)) return { kind: 'skipped', reason: 'its condition is false', failedUpstream: false }
    const { key, inputs } = inputKey(stage, config, state)
    const start = new Date()
    if (options.reuse !== false) {
      const earlier = await store.index.get(inputPointer(key))
      if (earlier) {
        const output = await readStageOutput(store, stage, `${earlier}:${stage.name}`, setup).catch(() => undefined)
        if (output) return { kind: 'reused', output, key, inputs, read: view, from: earlier, start, end: new Date() }
      }
    }
    return slot(async () => {
      // The stage may block this thread (synchronous work): the store keeps serving other processes.
      await store.prepareForBlockingWork()
      emit({ type: 'stage-started', runId, stage: stage.name })
      const began = new Date()
      const logs = new Map<number, AttemptLog>()
      const { value, attempts } = await runAttempts({
        stage,
        firstAttempt: (failures.get(stage.name) ?? 0) + 1,
        signal,
        attempt: async (attempt, attemptSignal) => {
          const live = recording ? { store, pointer: liveLogPointer(runId, stage.name, attempt), header: { runId, stage: stage.name, attempt } } : undefined
          const log = new AttemptLog(stage.logLines ?? DEFAULT_LOG_LINES, stage.keepFullLog === true, live)
          logs.set(attempt, log)
          const ctx = { runId, stage: stage.name, attempt, signal: attemptSignal, log: (...args: unknown[]) => log.log(...args), ...(setup.jobId && { jobId: setup.jobId }) }
          const output = await withAttemptLog(log, () => stage.run(view, config, ctx))
          const extra = Object.keys(output ?? {}).filter((k) => !stage.writes.includes(k))
          if (extra.length > 0) throw new CkptError('INVALID_OUTPUT', `stage "${stage.name}" returned ${extra.map((k) => `"${k}"`).join(', ')}, which it does not declare in writes`)
          // An output that cannot be stored is the stage's failure, not a storage problem. A run that
          // records nothing does not serialize (a serializer may write to the store).
          const persisted = stage.serialize && recording ? await stage.serialize(output ?? {}, serializeContext(store, stage, setup)) : (output ?? {})
          outputIdOf(persisted, `output of stage "${stage.name}"`)
          return { output: output ?? {}, persisted }
        },
        closeLog: async (attempt) => (logs.get(attempt) as AttemptLog).close(recording ? store : undefined),
        onRetry: (attempt, delayMs, error) => emit({ type: 'stage-retrying', runId, stage: stage.name, attempt, delayMs, error: error.message }),
      })
      const end = new Date()
      if (value) {
        emit({ type: 'stage-finished', runId, stage: stage.name, durationMs: end.getTime() - began.getTime() })
        return { kind: 'succeeded', output: value.output, persisted: value.persisted, key, inputs, read: view, start: began, end, attempts }
      }
      const error = attempts.at(-1)?.error ?? new Error('the stage did not run')
      emit({ type: 'stage-failed', runId, stage: stage.name, error: error.message })
      return { kind: 'failed', error, key, inputs, read: view, start: began, end, attempts }
    })
  }
  const outcomeOf = (name: string): Promise<Outcome> => {
    let outcome = outcomes.get(name)
    if (!outcome) {
      const stage = graph.order.find((s) => s.name === name) as StageDefinition
      outcome = decide(stage).then((o) => {
        if (o.kind === 'succeeded' || o.kind === 'reused') Object.assign(state, o.output)
        return o
      })
      outcome.catch(() => undefined) // observed by the recording loop; never left unhandled
      outcomes.set(name, outcome)
    }
    return outcome
  }
  graph.order.forEach((s) => void outcomeOf(s.name))

  // Record in pipeline order, whatever order the stages finished in.
  let head = setup.base
  const results: StageResult[] = []
  const persistenceErrors: string[] = []
  for (const stage of graph.order) {
    try {
      await recordOutcome(stage)
    } finally {
      recorded.get(stage.name)?.resolve()
    }
    if (observer.fatal) throw observer.fatal
  }
  async function recordOutcome(stage: StageDefinition): Promise<void> {
    const outcome = await outcomeOf(stage.name)
    const name = stage.name
    if (outcome.kind === 'completed-earlier') {
      results.push({ stage: name, status: 'completed-earlier', ...(setup.completed.get(name) && { checkpoint: setup.completed.get(name) }) })
      return
    }
    if (outcome.kind === 'skipped') {
      emit({ type: 'stage-skipped', runId, stage: name, reason: outcome.reason })
      results.push({ stage: name, status: 'skipped' })
      return
    }
    const durationMs = outcome.end.getTime() - outcome.start.getTime()
    if (!recording) {
      if (outcome.kind === 'reused') emit({ type: 'stage-reused', runId, stage: name, from: outcome.from })
      results.push({ stage: name, status: outcome.kind, ...(outcome.kind === 'failed' && { error: outcome.error.message }) })
      return
    }
    if (outcome.kind === 'failed') {
      await persist(runId, name, persistenceErrors, emit, options.strict, async () => {
        await storeReadValues(store, outcome.read)
        await auditAttempts(store, runId, name, outcome)
      })
      results.push({ stage: name, status: 'failed', error: outcome.error.message })
      return
    }
    if (outcome.kind === 'reused') emit({ type: 'stage-reused', runId, stage: name, from: outcome.from })
    const checkpoint = await persist(runId, name, persistenceErrors, emit, options.strict, () => recordStage(setup, stage, outcome, head))
    if (checkpoint) {
      head = checkpoint.id
      emit({ type: 'checkpoint-written', runId, stage: name, checkpoint: checkpoint.id })
      await persist(runId, name, persistenceErrors, emit, options.strict, async () => {
        await storeReadValues(store, outcome.read)
        const recorded = { output: checkpoint.stages[name] as string, checkpoint: checkpoint.id }
        if (outcome.kind === 'succeeded') return auditAttempts(store, runId, name, outcome, recorded)
        await appendAudit(store, { runId, stage: name, status: 'reused', start: outcome.start, end: outcome.end, durationMs, inputKey: outcome.key, inputs: outcome.inputs, ...recorded })
      })
    }
    results.push({ stage: name, status: outcome.kind, ...(checkpoint && { checkpoint: checkpoint.id }) })
  }
  const status = results.some((r) => r.status === 'failed') ? 'failed' : 'succeeded'
  emit({ type: 'run-finished', runId, status })
  await observer.settle()
  if (observer.fatal) throw observer.fatal
  const observerErrors = observer.errors
  return { runId, timeline: setup.timeline ?? 'HEAD', status, stages: results, state, persistenceErrors, observerErrors, ...(head && { head }) }
}

/**
 * One audit entry per attempt of an executed stage, oldest first (the last one holds the output
 * when it succeeded), then its live log pointers go: the entries hold the logs now.
 */
async function auditAttempts(
  store: CheckpointStore,
  runId: string,
  stage: string,
  outcome: Extract<Outcome, { kind: 'succeeded' | 'failed' }>,
  recorded?: { readonly output: string; readonly checkpoint: string },
): Promise<void> {
  for (const a of outcome.attempts) {
    const common = { runId, stage, start: a.start, end: a.end, durationMs: a.end.getTime() - a.start.getTime(), inputKey: outcome.key, inputs: outcome.inputs, attempt: a.attempt, log: a.log }
    await appendAudit(
      store,
      a.error
        ? { ...common, status: 'failed', ...(a.timedOut && { timedOut: true }), error: { message: a.error.message, ...(a.error.stack && { stack: a.error.stack }) } }
        : { ...common, status: 'succeeded', ...recorded },
    )
  }
  await Promise.all(
    outcome.attempts.map(async (a) => {
      const pointer = liveLogPointer(runId, stage, a.attempt)
      const current = await store.index.get(pointer)
      if (current) await store.index.swap(pointer, current, null, 'log: recorded').catch(() => undefined)
    }),
  )
}

/**
 * Stores the values a stage read (content-addressed: each is written once however often it is
 * read), so that every id its audit entry names can be read back.
 */
async function storeReadValues(store: CheckpointStore, read: PipelineState): Promise<void> {
  await Promise.all(Object.values(read).map((value) => store.putOutput(value)))
}

/** Runs a write; a failure is reported and collected (or, when strict, ends the run). */
async function persist<T>(runId: string, stage: string, errors: string[], emit: (e: PipelineEvent) => void, strict: boolean | undefined, write: () => Promise<T>): Promise<T | undefined> {
  try {
    return await write()
  } catch (err) {
    const message = `stage "${stage}": ${(err as Error).message}`
    if (strict) throw new CkptError('RUN_FAILED', `checkpoint could not be written for ${message}`, { cause: err })
    errors.push(message)
    emit({ type: 'persistence-error', runId, stage, error: (err as Error).message })
    return undefined
  }
}

/** One checkpoint for a succeeded or reused stage: parent is the run's previous checkpoint. */
async function recordStage(setup: Setup, stage: StageDefinition, outcome: Extract<Outcome, { kind: 'succeeded' | 'reused' }>, parent: string | undefined): Promise<Checkpoint> {
  const { store, runId } = setup
  const config = setup.configs.get(stage.name) ?? {}
  const meta = { pipeline: setup.graph.pipeline.name, stageVersion: stage.version, inputKey: outcome.key, ...(outcome.kind === 'reused' && { reusedFrom: outcome.from }) }
  const content =
    outcome.kind === 'reused' ? { copy: { from: outcome.from, stages: [stage.name] } } : { output: outcome.persisted }
  let checkpoint: Checkpoint | undefined
  for (let attempt = 0; !checkpoint; attempt++) {
    // The run's head pointer, and the input-key index for a fresh output, move in the same atomic
    // step as the checkpoint: a crash cannot leave a recorded stage that resume would not see.
    const [head, indexed] = await Promise.all([store.index.get(headPointer(runId)), store.index.get(inputPointer(outcome.key))])
    const index = [
      { name: headPointer(runId), expected: head ?? null },
      ...(outcome.kind === 'succeeded' && indexed === undefined ? [{ name: inputPointer(outcome.key), expected: null }] : []),
    ]
    try {
      checkpoint = await store.commit({
        stage: stage.name,
        ...content,
        ...(setup.timeline !== null && { timeline: setup.timeline }),
        parent: parent ?? null,
        run: runId,
        ...(setup.jobId && { job: setup.jobId }),
        config,
        meta,
        message: outcome.kind === 'reused' ? `reused from ${shortIdOf(outcome.from)}` : '',
        index,
      })
    } catch (err) {
      // Another writer moved the timeline (or indexed the same input key) meanwhile: try again.
      if (!isCkptError(err, 'REF_CONFLICT') || attempt >= 20) throw err
    }
  }
  return checkpoint
}

/** The plan: for each stage, whether it would be skipped, reused or run, and why. */
async function planStages(setup: Setup): Promise<PlannedStage[]> {
  const { store, graph } = setup
  const state: PipelineState = { ...setup.state }
  const planned = new Map<string, PlannedStage>()
  const previous = setup.previous ? await store.getCheckpoint(setup.previous) : undefined
  const failures = await failuresInRun(store, setup.runId)
  for (const stage of graph.order) {
    const name = stage.name
    const completedAt = setup.completed.get(name)
    if (completedAt) {
      planned.set(name, { stage: name, action: 'skip', reason: `${setup.keptBecause} (checkpoint ${shortIdOf(completedAt)})`, checkpoint: completedAt })
      continue
    }
    const runningUpstream = [...(graph.upstream.get(name) ?? [])].find((u) => planned.get(u)?.action === 'run')
    if (runningUpstream) {
      planned.set(name, { stage: name, action: 'run', reason: `upstream changed (${runningUpstream} runs)` })
      continue
    }
    const config = setup.configs.get(name) ?? {}
    const { key } = inputKey(stage, config, state)
    const earlier = setup.options.reuse === false ? undefined : await store.index.get(inputPointer(key))
    if (earlier) {
      planned.set(name, { stage: name, action: 'reuse', reason: `input key matched checkpoint ${shortIdOf(earlier)}`, checkpoint: earlier })
      Object.assign(state, await readStageOutput(store, stage, `${earlier}:${name}`, setup))
      continue
    }
    const reason = failures.has(name) ? 'failed last time' : await whyRun(setup, stage, config, previous)
    planned.set(name, { stage: name, action: 'run', reason })
  }
  return graph.order.map((s) => withPolicy(planned.get(s.name) as PlannedStage, s))
}

/** A stage that would run, with its retry policy when it has one. */
function withPolicy(planned: PlannedStage, stage: StageDefinition): PlannedStage {
  if (planned.action !== 'run' || (stage.retries === undefined && stage.timeout === undefined)) return planned
  return { ...planned, policy: { retries: stage.retries ?? 0, ...(stage.timeout !== undefined && { timeoutMs: stage.timeout }) } }
}

/** Stage → how many times it failed so far in the run, from the run's audit log. */
async function failuresInRun(store: CheckpointStore, runId: string): Promise<Map<string, number>> {
  const failures = new Map<string, number>()
  for (const entry of await readAudit(store, runId)) if (entry.status === 'failed') failures.set(entry.stage, (failures.get(entry.stage) ?? 0) + 1)
  return failures
}

/** Why a stage that cannot be reused must run, compared with its last execution in `previous`'s history. */
async function whyRun(setup: Setup, stage: StageDefinition, config: Record<string, ConfigValue>, previous: Checkpoint | undefined): Promise<string> {
  if (!previous) return 'no earlier execution'
  for await (const c of setup.store.log(previous.id, { firstParent: true })) {
    if (c.stage !== stage.name) continue
    if (JSON.stringify(c.config ?? {}) !== JSON.stringify(config)) return 'config changed'
    if (c.meta.stageVersion !== stage.version) return 'stage version changed'
    return 'inputs changed'
  }
  return 'no earlier execution'
}


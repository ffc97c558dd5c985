import type { CheckpointStore } from '../core/checkpoint-store.js'
import type { OutputValue } from '../model/value.js'

/** The shared pipeline state: keys written by inputs and stages. */
export type PipelineState = Record<string, unknown>

export type ConfigType = 'float' | 'int' | 'str' | 'bool' | 'list[str]'
export type ConfigValue = number | string | boolean | string[]

/** One configurable setting of a stage; the runtime validates values before anything runs. */
export interface ConfigField {
  readonly name: string
  readonly type: ConfigType
  readonly default: ConfigValue
  readonly description?: string
  readonly min?: number
  readonly max?: number
  /** Allowed values (for `str`, and for each item of `list[str]`). */
  readonly options?: readonly string[]
}

/** What a running stage can use besides its state and config. */
export interface StageContext {
  readonly runId: string
  readonly jobId?: string
  readonly stage: string
  /** Which attempt of this stage in this run (1 for the first). */
  readonly attempt: number
  /** Aborted when the run is cancelled. */
  readonly signal: AbortSignal
}

/** What a stage's `serialize` and `deserialize` get: the run they serve, and the store to keep parts of the output in. */
export interface SerializeContext {
  readonly runId: string
  readonly jobId?: string
  readonly stage: string
  readonly store: CheckpointStore
}

export interface StageDefinition {
  readonly name: string
  readonly label?: string
  readonly description?: string
  readonly category?: string
  /** State keys the stage needs. */
  readonly reads?: readonly string[]
  /** State keys the stage may use when present. */
  readonly optionalReads?: readonly string[]
  /** State keys the stage returns; its output is exactly these keys. */
  readonly writes: readonly string[]
  /** Stages that must finish first even without a data dependency. */
  readonly after?: readonly string[]
  readonly config?: readonly ConfigField[]
  /** Bump when the stage's code changes, so earlier outputs are no longer reused. */
  readonly version: string
  /** Skip the stage (no checkpoint, no audit entry) when this returns false. */
  readonly when?: (state: Readonly<PipelineState>, config: Readonly<Record<string, ConfigValue>>) => boolean
  readonly run: (state: Readonly<PipelineState>, config: Readonly<Record<string, ConfigValue>>, ctx: StageContext) => Promise<PipelineState>
  /**
   * Stage-owned persisted form of the output (default: the written keys as JSON, bytes as blobs).
   * Called once per execution; may be async, e.g. to upload parts through `ctx.store.putOutput`
   * and keep only their ids.
   */
  readonly serialize?: (output: PipelineState, ctx: SerializeContext) => unknown
  /** The inverse of `serialize`, when a later run, a resume or a replay reads the output back. */
  readonly deserialize?: (data: OutputValue, ctx: SerializeContext) => PipelineState | Promise<PipelineState>
}

export interface Pipeline {
  readonly name: string
  readonly stages: readonly StageDefinition[]
  /** Keys the caller must provide in `inputs`. */
  readonly inputs?: readonly string[]
}

export type StageAction = 'run' | 'reuse' | 'skip'

export interface PlannedStage {
  readonly stage: string
  readonly action: StageAction
  readonly reason: string
  /** For `reuse` (and `skip` of a completed stage): the checkpoint whose output is used. */
  readonly checkpoint?: string
}

export type StageStatusInRun = 'succeeded' | 'reused' | 'failed' | 'skipped' | 'completed-earlier'

export type PipelineEvent =
  | { readonly type: 'run-started'; readonly runId: string; readonly timeline: string }
  | { readonly type: 'stage-started'; readonly runId: string; readonly stage: string }
  | { readonly type: 'stage-finished'; readonly runId: string; readonly stage: string; readonly durationMs: number }
  | { readonly type: 'stage-failed'; readonly runId: string; readonly stage: string; readonly error: string }
  | { readonly type: 'stage-skipped'; readonly runId: string; readonly stage: string; readonly reason: string }
  | { readonly type: 'stage-reused'; readonly runId: string; readonly stage: string; readonly from: string }
  | { readonly type: 'checkpoint-written'; readonly runId: string; readonly stage: string; readonly checkpoint: string }
  | { readonly type: 'persistence-error'; readonly runId: string; readonly stage: string; readonly error: string }
  /** The `onEvent` handler failed on `event` (it is told once; a failure on this event is only counted). */
  | { readonly type: 'observer-error'; readonly runId: string; readonly event: PipelineEvent['type']; readonly error: string }
  | { readonly type: 'run-finished'; readonly runId: string; readonly status: 'succeeded' | 'failed' }

export interface RunOptions {
  readonly store: CheckpointStore
  readonly pipeline: Pipeline
  /** Timeline to record on (default: the one HEAD is on, or a new one when `from` is given). */
  readonly timeline?: string
  readonly inputs?: PipelineState
  /** Stage name → config field → value; unknown stages or fields are errors. */
  readonly config?: Readonly<Record<string, Readonly<Record<string, ConfigValue>>>>
  readonly runId?: string
  readonly jobId?: string
  /** Continue from this checkpoint's outputs (e.g. `HEAD` after `ckpt checkout`). */
  readonly from?: string
  /** Reuse outputs of earlier executions with the same input key (default true). */
  readonly reuse?: boolean
  /** How many independent stages may run at once (default 1). */
  readonly concurrency?: number
  /**
   * Fail the run (RUN_FAILED) when a checkpoint cannot be written or the `onEvent` handler fails
   * (default false: report and carry on).
   */
  readonly strict?: boolean
  /**
   * Told of each step of the run. A handler that throws, or returns a promise that rejects, never
   * breaks the run: its failure is reported as an `observer-error` event and in
   * `RunResult.observerErrors` (unless `strict`).
   */
  readonly onEvent?: (event: PipelineEvent) => void | Promise<void>
  /**
   * false: run every stage without writing anything to the store (no checkpoint, run record,
   * audit entry or timeline), for dry runs and tests. Default true.
   */
  readonly checkpoint?: boolean
  readonly signal?: AbortSignal
}

export interface StageResult {
  readonly stage: string
  readonly status: StageStatusInRun
  readonly checkpoint?: string
  readonly error?: string
}

export interface RunResult {
  readonly runId: string
  readonly timeline: string
  readonly status: 'succeeded' | 'failed'
  readonly stages: readonly StageResult[]
  /** The final state: inputs plus every stage's written keys. */
  readonly state: PipelineState
  /** The last checkpoint this run recorded (or started from). */
  readonly head?: string
  readonly persistenceErrors: readonly string[]
  /** Failures of the `onEvent` handler, each naming the event it failed on. */
  readonly observerErrors: readonly string[]
}

/** One audit entry: every stage execution (succeeded, reused or failed) of a run. */
export interface AuditEntry {
  readonly runId: string
  readonly stage: string
  readonly status: 'succeeded' | 'reused' | 'failed'
  readonly start: Date
  readonly end: Date
  readonly durationMs: number
  readonly inputKey: string
  /** State key → id of the value the stage read. */
  readonly inputs: Readonly<Record<string, string>>
  readonly output?: string
  readonly checkpoint?: string
  readonly error?: { readonly message: string; readonly stack?: string }
}

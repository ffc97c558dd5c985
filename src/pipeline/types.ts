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
  /** Aborted when the run is cancelled, or when the attempt reaches the stage's `timeout`. */
  readonly signal: AbortSignal
  /**
   * Writes a line (arguments formatted as console.log does) to this attempt's log, which is
   * stored with its audit entry and shown by `ckpt logs`.
   */
  readonly log: (...args: unknown[]) => void
}

/** Where a log line came from: `ctx.log`, or the stage's stdout or stderr when the run captures output. */
export type LogSource = 'log' | 'stdout' | 'stderr'

export interface LogLine {
  /** 1 for the attempt's first line. */
  readonly seq: number
  readonly time: number
  readonly source: LogSource
  readonly text: string
}

/** An attempt's log as its audit entry keeps it: the last lines, and whether earlier ones were dropped. */
export interface CapturedLog {
  readonly lines: readonly LogLine[]
  readonly truncated: boolean
  /** Lines the attempt wrote in all. */
  readonly total: number
  /** With `keepFullLog`: the id of every line, stored as one output. */
  readonly full?: string
}

/** How long to wait before each retry: `initialMs`, times `factor` per retry, at most `maxMs`; jitter spreads it over its upper half. */
export interface Backoff {
  readonly initialMs?: number
  readonly factor?: number
  readonly maxMs?: number
  readonly jitter?: boolean
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
  /** Attempts after the first when one fails (default 0). Each attempt is one audit entry. */
  readonly retries?: number
  /** Wait between attempts (default 1 s, doubling, at most 30 s, with jitter). */
  readonly backoff?: Backoff
  /**
   * Milliseconds an attempt may take: then its signal aborts and it counts as failed (timed out),
   * even if it ignores the signal.
   */
  readonly timeout?: number
  /** Whether a failed attempt is worth another (default: every error but INVALID_OUTPUT). */
  readonly retryOn?: (error: Error, attempt: number) => boolean
  /** Log lines kept per attempt with its audit entry (default 200). */
  readonly logLines?: number
  /** Also store each attempt's whole log as an output (`CapturedLog.full`). */
  readonly keepFullLog?: boolean
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
  /** For `run`: the stage's retry policy, when it has one. */
  readonly policy?: { readonly retries: number; readonly timeoutMs?: number }
}

export type StageStatusInRun = 'succeeded' | 'reused' | 'failed' | 'skipped' | 'completed-earlier'

export type PipelineEvent =
  | { readonly type: 'run-started'; readonly runId: string; readonly timeline: string }
  | { readonly type: 'stage-started'; readonly runId: string; readonly stage: string }
  | { readonly type: 'stage-finished'; readonly runId: string; readonly stage: string; readonly durationMs: number }
  | { readonly type: 'stage-failed'; readonly runId: string; readonly stage: string; readonly error: string }
  /** An attempt failed and the stage will run again after `delayMs`. */
  | { readonly type: 'stage-retrying'; readonly runId: string; readonly stage: string; readonly attempt: number; readonly delayMs: number; readonly error: string }
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
   * Also keep what stages write to stdout and stderr in their attempt's log (it is passed on to
   * stderr). `ckpt run` sets it. Default false.
   */
  readonly captureOutput?: boolean
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
  /** Which attempt of the stage in this run (absent in entries written before attempts were numbered). */
  readonly attempt?: number
  /** The attempt ran past the stage's timeout. */
  readonly timedOut?: boolean
  readonly log?: CapturedLog
}

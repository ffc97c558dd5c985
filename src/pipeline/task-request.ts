import { CkptError, quoted } from '../errors.js'
import type { CheckpointStore } from '../core/checkpoint-store.js'
import { findRunIdViolation, findStageNameViolation } from '../model/name-rules.js'
import { checkRefName, checkStageName } from '../refs/names.js'
import { assertRunRecorded } from './runner.js'
import type { ConfigValue } from './types.js'

/** Re-run a pipeline from `stage` onto `timeline` (see `replay`), with config overrides. */
export interface ReplayTaskRequest {
  readonly action: 'replay'
  /** The pipeline's name, as the process executing tasks knows it. */
  readonly pipeline: string
  readonly stage: string
  /** The revision to replay from (checked to exist when the task is queued). */
  readonly from?: string
  /** Or: the recorded run to replay. */
  readonly run?: string
  readonly config?: Readonly<Record<string, Readonly<Record<string, ConfigValue>>>>
  /** The new timeline; when omitted, the executor picks one. */
  readonly timeline?: string
  readonly jobId?: string
}

/** Continue a recorded run (see `resume`). */
export interface ResumeTaskRequest {
  readonly action: 'resume'
  readonly pipeline: string
  readonly runId: string
}

/** What a task runs. */
export type TaskRequest = ReplayTaskRequest | ResumeTaskRequest

const REQUEST_FIELDS = { replay: ['action', 'pipeline', 'stage', 'from', 'run', 'config', 'timeline', 'jobId'], resume: ['action', 'pipeline', 'runId'] } as const

/** The request with only its known fields, each checked; throws naming the first bad value. */
export async function checkRequest(store: CheckpointStore, request: unknown): Promise<TaskRequest> {
  if (!isPlainObject(request)) throw invalid('a task request must be an object with an action', { request: String(request) })
  const { action } = request
  if (action !== 'replay' && action !== 'resume') throw invalid(`unknown task action ${quoted(action)} (one of replay, resume)`, { action })
  const fields: readonly string[] = REQUEST_FIELDS[action]
  for (const key of Object.keys(request)) {
    if (!fields.includes(key) && request[key] !== undefined) throw invalid(`unknown field ${quoted(key)} in a ${action} task (fields: ${fields.join(', ')})`, { field: key })
  }
  const pipeline = request.pipeline
  const pipelineViolation = findStageNameViolation(pipeline)
  if (pipelineViolation) throw invalid(`invalid pipeline name ${quoted(pipeline)}: ${pipelineViolation.reason}`, { pipeline })
  if (action === 'resume') {
    const runId = request.runId
    if (typeof runId !== 'string') throw invalid(`invalid run id ${quoted(runId)}: it must be a string`, { runId })
    await assertRunRecorded(store, runId)
    return { action, pipeline: pipeline as string, runId }
  }
  const { stage, timeline, from, run, config, jobId } = request
  checkStageName(stage as string)
  if (timeline !== undefined) checkRefName(timeline as string, 'timeline name')
  if (from !== undefined && run !== undefined) throw invalid('a replay task takes `from` (a revision) or `run` (a recorded run), not both', { from, run })
  if (from !== undefined) {
    if (typeof from !== 'string' || from === '') throw invalid(`invalid revision ${quoted(from)} to replay from`, { from })
    await store.getCheckpoint(from)
  }
  if (run !== undefined) {
    if (typeof run !== 'string') throw invalid(`invalid run id ${quoted(run)}: it must be a string`, { run })
    await assertRunRecorded(store, run)
  }
  if (jobId !== undefined) {
    const violation = findRunIdViolation(jobId)
    if (violation) throw invalid(`invalid job id ${quoted(jobId)}: ${violation.reason}`, { jobId })
  }
  return {
    action,
    pipeline: pipeline as string,
    stage: stage as string,
    ...(timeline !== undefined && { timeline: timeline as string }),
    ...(from !== undefined && { from: from as string }),
    ...(run !== undefined && { run: run as string }),
    ...(config !== undefined && { config: checkConfig(config) }),
    ...(jobId !== undefined && { jobId: jobId as string }),
  }
}

function checkConfig(config: unknown): Record<string, Record<string, ConfigValue>> {
  if (!isPlainObject(config)) throw invalid('config must be an object of stage name → {field: value}', { config: String(config) })
  const out: Record<string, Record<string, ConfigValue>> = {}
  for (const [stage, fields] of Object.entries(config)) {
    checkStageName(stage)
    if (!isPlainObject(fields)) throw invalid(`config of stage ${quoted(stage)} must be an object of field → value`, { stage })
    out[stage] = {}
    for (const [field, value] of Object.entries(fields)) {
      if (!isConfigValue(value)) throw invalid(`config ${stage}.${field} ${quoted(JSON.stringify(value) ?? String(value))} must be a finite number, a string, a boolean or a list of strings`, { stage, field })
      out[stage][field] = value
    }
  }
  return out
}

function isConfigValue(value: unknown): value is ConfigValue {
  return (typeof value === 'number' && Number.isFinite(value)) || typeof value === 'string' || typeof value === 'boolean' || (Array.isArray(value) && value.every((v) => typeof v === 'string'))
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const proto = Object.getPrototypeOf(value) as unknown
  return proto === Object.prototype || proto === null
}

function invalid(message: string, details: Record<string, unknown>): CkptError {
  return new CkptError('INVALID_ARGUMENT', message, { details })
}


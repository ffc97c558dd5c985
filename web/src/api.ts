/** The ckpt serve API as the view uses it: typed responses, `{code, message}` errors. */

export interface Checkpoint {
  id: string
  shortId: string
  parents: string[]
  seq: number
  stages: Record<string, string>
  kinds: Record<string, 'json' | 'bytes' | 'tree'>
  files?: Record<string, string>
  stage?: string
  run?: string
  job?: string
  config?: unknown
  message: string
  author: string
  time: string
  meta: Record<string, unknown>
}

export interface StageOutput {
  stage: string
  id: string
  kind: string
  size: number
  files?: number
  changed: boolean
}

export interface CheckpointDetail extends Checkpoint {
  stageOutputs: StageOutput[]
}

export interface Graph {
  head: { timeline: string | null; detached: boolean; checkpoint: string | null }
  timelines: Array<{ name: string; head: string }>
  tags: Array<{ name: string; target: string }>
  checkpoints: Checkpoint[]
  truncated?: boolean
}

export type JsonChange =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'remove'; path: string; oldValue: unknown }
  | { op: 'replace'; path: string; oldValue: unknown; value: unknown }

export interface TextHunk {
  fromStart: number
  fromLines: number
  toStart: number
  toLines: number
  lines: string[]
}

export interface StageDiff {
  stage: string
  status: 'added' | 'removed' | 'changed' | 'unchanged'
  from?: string
  to?: string
  kind?: string
  changes?: JsonChange[]
  size?: { from: number; to: number }
  hunks?: TextHunk[]
}

export interface DiffResult {
  from: string
  to: string
  summary: { added: number; removed: number; changed: number; unchanged: number }
  stages: StageDiff[]
}

export interface Run {
  runId: string
  jobId: string | null
  pipeline: string
  timeline: string | null
  status: 'running' | 'succeeded' | 'failed' | 'interrupted'
  started: string
  finished: string | null
  stages: Record<string, number> | null
}

export interface AuditEntry {
  runId: string
  stage: string
  status: string
  attempt?: number
  start?: string
  end?: string
  durationMs?: number
  checkpoint?: string
  error?: { message: string }
  log?: { lines: Array<{ text: string; source: string }>; total: number; truncated: boolean }
}

export interface ConfigField {
  name: string
  type: 'float' | 'int' | 'str' | 'bool' | 'list[str]'
  default: number | string | boolean | string[]
  description?: string
  min?: number
  max?: number
  options?: string[]
}

export interface PipelineInfo {
  name: string
  inputs: string[]
  stages: Array<{ name: string; label?: string; description?: string; reads: string[]; writes: string[]; config: ConfigField[] }>
}

export type ConfigOverrides = Record<string, Record<string, ConfigField['default']>>

export interface ReplayRequest {
  stage: string
  from?: string
  config?: ConfigOverrides
  timeline?: string
}

export interface RunReport {
  runId: string
  timeline: string
  status: 'succeeded' | 'failed'
  head: string | null
  counts: { executed: number; reused: number; failed: number }
  stages: Array<{ stage: string; status: string; error?: string }>
}

/** An error the API answered with: its stable code and its message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

async function answer<T>(response: Response): Promise<T> {
  if (response.ok) return (await response.json()) as T
  let code = 'HTTP_' + response.status
  let message = `${response.status} ${response.statusText}`
  try {
    const body = (await response.json()) as { code?: string; message?: string }
    code = body.code ?? code
    message = body.message ?? message
  } catch {
    // not a JSON error body: keep the status line
  }
  throw new ApiError(response.status, code, message)
}

const enc = encodeURIComponent

export const getJson = async <T>(url: string): Promise<T> => answer<T>(await fetch(url, { headers: { Accept: 'application/json' } }))

export const api = {
  graph: () => getJson<Graph>('/api/graph'),
  checkpoint: (rev: string) => getJson<CheckpointDetail>(`/api/checkpoints/${enc(rev)}`),
  outputUrl: (rev: string, stage: string) => `/api/checkpoints/${enc(rev)}/outputs/${enc(stage)}`,
  fileUrl: (rev: string, stage: string, file: string) => `/api/checkpoints/${enc(rev)}/outputs/${enc(stage)}/files/${file.split('/').map(enc).join('/')}`,
  blobUrl: (id: string) => `/api/outputs/${enc(id)}`,
  diff: (from: string, to: string) => getJson<DiffResult>(`/api/diff?from=${enc(from)}&to=${enc(to)}`),
  runs: () => getJson<Run[]>('/api/runs'),
  audit: (runId: string) => getJson<AuditEntry[]>(`/api/runs/${enc(runId)}/audit`),
  pipelines: () => getJson<PipelineInfo[]>('/api/pipelines'),
  async replay(pipeline: string, request: ReplayRequest, token: string | null): Promise<RunReport> {
    const headers: Record<string, string> = { 'Content-Type': 'application/json', Accept: 'application/json' }
    if (token) headers.Authorization = `Bearer ${token}`
    return answer<RunReport>(await fetch(`/api/pipelines/${enc(pipeline)}/replay`, { method: 'POST', headers, body: JSON.stringify(request) }))
  },
}

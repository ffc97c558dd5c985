/*
 * JSON schemas shared by the routes: Fastify validates requests against them (ajv), serializes
 * responses with them, and @fastify/swagger publishes them in /openapi.json. Objects that carry
 * a caller's own JSON (config, meta, outputs) stay open (`additionalProperties: true`).
 */

export const errorBody = {
  type: 'object',
  description: 'Every error: a stable code (docs/server.md maps codes to statuses) and a message naming the offending value.',
  properties: { code: { type: 'string' }, message: { type: 'string' } },
  required: ['code', 'message'],
} as const

/** Errors every route may answer with. */
export const errorResponses = { 400: errorBody, 401: errorBody, 404: errorBody, 409: errorBody, 413: errorBody, 500: errorBody } as const

const id = { type: 'string', description: 'A content id (CIDv1)' } as const
const nullableString = { type: ['string', 'null'] } as const
const openObject = { type: 'object', additionalProperties: true } as const

export const checkpoint = {
  type: 'object',
  description: 'A checkpoint, as `ckpt log --json` prints it.',
  properties: {
    id,
    shortId: { type: 'string' },
    parents: { type: 'array', items: id },
    seq: { type: 'integer' },
    stages: { type: 'object', additionalProperties: id },
    kinds: { type: 'object', additionalProperties: { type: 'string', enum: ['json', 'bytes', 'tree'] } },
    files: { type: 'object', additionalProperties: { type: 'string' } },
    stage: { type: 'string' },
    run: { type: 'string' },
    job: { type: 'string' },
    config: {},
    message: { type: 'string' },
    author: { type: 'string' },
    time: { type: 'string', format: 'date-time' },
    meta: openObject,
    historyCut: { type: 'boolean' },
  },
  required: ['id', 'shortId', 'parents', 'seq', 'stages', 'kinds', 'message', 'author', 'time', 'meta'],
  additionalProperties: true,
} as const

export const stageOutput = {
  type: 'object',
  properties: { stage: { type: 'string' }, id, kind: { type: 'string' }, size: { type: 'integer' }, files: { type: 'integer' }, changed: { type: 'boolean' } },
  required: ['stage', 'id', 'kind', 'size', 'changed'],
} as const

export const checkpointDetail = {
  ...checkpoint,
  description: 'A checkpoint with its outputs, as `ckpt show --json` prints it.',
  properties: { ...checkpoint.properties, stageOutputs: { type: 'array', items: stageOutput } },
  required: [...checkpoint.required, 'stageOutputs'],
} as const

export const status = {
  type: 'object',
  description: 'As `ckpt status --json` prints it.',
  properties: {
    store: { type: 'string' },
    head: { type: 'object', properties: { timeline: nullableString, detached: { type: 'boolean' }, checkpoint: nullableString }, required: ['timeline', 'detached', 'checkpoint'] },
    checkpoint: {
      type: ['object', 'null'],
      properties: { id, stage: nullableString, run: nullableString, time: { type: 'string', format: 'date-time' } },
    },
    stages: {
      type: 'array',
      items: {
        type: 'object',
        properties: { stage: { type: 'string' }, id, kind: { type: 'string' }, size: { type: 'integer' }, files: { type: 'integer' }, recordedBy: nullableString, run: nullableString, inputKey: nullableString },
        required: ['stage', 'id', 'kind', 'size', 'recordedBy', 'run', 'inputKey'],
      },
    },
  },
  required: ['store', 'head', 'checkpoint', 'stages'],
} as const

export const timeline = {
  type: 'object',
  properties: { name: { type: 'string' }, head: id, current: { type: 'boolean' }, stage: nullableString, time: { type: 'string', format: 'date-time' } },
  required: ['name', 'head', 'current', 'stage', 'time'],
} as const

export const tag = {
  type: 'object',
  properties: { name: { type: 'string' }, target: id },
  required: ['name', 'target'],
  additionalProperties: true,
} as const

export const run = {
  type: 'object',
  description: 'A run, as `ckpt runs --json` prints it.',
  properties: {
    runId: { type: 'string' },
    jobId: nullableString,
    pipeline: { type: 'string' },
    timeline: nullableString,
    status: { type: 'string', enum: ['running', 'succeeded', 'failed', 'interrupted'] },
    started: { type: 'string', format: 'date-time' },
    finished: { type: ['string', 'null'], format: 'date-time' },
    stages: { type: ['object', 'null'], additionalProperties: { type: 'integer' } },
    owner: { type: 'object', properties: { host: { type: 'string' }, pid: { type: 'integer' } } },
  },
  required: ['runId', 'jobId', 'pipeline', 'timeline', 'status', 'started', 'finished', 'stages', 'owner'],
} as const

export const runReport = {
  type: 'object',
  description: 'The outcome of a replay or resume.',
  properties: {
    runId: { type: 'string' },
    timeline: { type: 'string' },
    status: { type: 'string', enum: ['succeeded', 'failed'] },
    head: nullableString,
    counts: {
      type: 'object',
      properties: { executed: { type: 'integer' }, reused: { type: 'integer' }, failed: { type: 'integer' } },
      required: ['executed', 'reused', 'failed'],
    },
    stages: {
      type: 'array',
      items: { type: 'object', properties: { stage: { type: 'string' }, status: { type: 'string' }, error: { type: 'string' } }, required: ['stage', 'status'] },
    },
  },
  required: ['runId', 'timeline', 'status', 'head', 'counts', 'stages'],
} as const

/** Config overrides: `{stage: {field: value}}`. */
export const configOverrides = { type: 'object', additionalProperties: { type: 'object', additionalProperties: true } } as const

/**
 * A path segment naming a revision, stage, run or timeline: no slash (encoded or not), no
 * backslash, no `..`, no NUL or other control character, bounded.
 */
export const name = { type: 'string', minLength: 1, maxLength: 256, pattern: '^(?!.*\\.\\.)[^/\\\\\\u0000-\\u001f\\u007f]+$' } as const

/** A file inside a folder output: relative, `/`-separated, no empty, `.` or `..` segment, no NUL. */
export const filePath = { type: 'string', minLength: 1, maxLength: 4096, pattern: '^(?!/)(?!.*(^|/)\\.{1,2}(/|$))(?!.*//)[^\\\\\\u0000-\\u001f\\u007f]+$' } as const

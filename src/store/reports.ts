import type { Checkpoint, OutputKind } from '../core/types.js'
import type { Store } from './store.js'

/*
 * What the read commands report, built once for every surface that shows it: `ckpt status/show/
 * timeline --json` and `ckpt serve`'s read endpoints print these objects (dates as ISO strings
 * through JSON), so the command line and the HTTP API cannot drift apart.
 */

/** One stage HEAD's checkpoint holds, with the checkpoint and run that recorded its output. */
export interface StatusStage {
  readonly stage: string
  readonly id: string
  readonly kind: OutputKind
  readonly size: number
  readonly files?: number
  readonly recordedBy: string | null
  readonly run: string | null
  readonly inputKey: string | null
}

/** Where HEAD is and what its checkpoint holds (`ckpt status`). */
export interface StatusReport {
  readonly store: string
  readonly head: { readonly timeline: string | null; readonly detached: boolean; readonly checkpoint: string | null }
  readonly checkpoint: { readonly id: string; readonly stage: string | null; readonly run: string | null; readonly time: Date } | null
  readonly stages: readonly StatusStage[]
}

/** `location`: the store as the caller names it to its user (passwords already left out). */
export async function statusReport(store: Store, location: string): Promise<StatusReport> {
  const head = await store.head()
  const checkpoint = head.checkpoint ? await store.getCheckpoint(head.checkpoint) : undefined
  const origins = checkpoint ? await store.origins(checkpoint.id) : {}
  const stages = checkpoint
    ? await Promise.all(
        Object.keys(checkpoint.stages).map(async (stage) => {
          const origin = origins[stage]
          const inputKey = origin?.meta.inputKey
          return {
            stage,
            ...(await store.outputInfo(`${checkpoint.id}:${stage}`)),
            recordedBy: origin?.id ?? null,
            run: origin?.run ?? null,
            inputKey: typeof inputKey === 'string' ? inputKey : null,
          }
        }),
      )
    : []
  return {
    store: location,
    head: { timeline: head.timeline ?? null, detached: head.detached, checkpoint: head.checkpoint ?? null },
    checkpoint: checkpoint ? { id: checkpoint.id, stage: checkpoint.stage ?? null, run: checkpoint.run ?? null, time: checkpoint.time } : null,
    stages,
  }
}

/** One output of a shown checkpoint; `changed` against its first parent. */
export interface StageOutputReport {
  readonly stage: string
  readonly id: string
  readonly kind: OutputKind
  readonly size: number
  readonly files?: number
  readonly changed: boolean
}

/** A checkpoint with its outputs' kinds and sizes (`ckpt show`); `historyCut` where retention dropped its parent. */
export type CheckpointReport = Checkpoint & { readonly historyCut?: true; readonly stageOutputs: readonly StageOutputReport[] }

export async function checkpointReport(store: Store, revision: string): Promise<CheckpointReport> {
  const shown = await store.getCheckpoint(revision)
  const firstParent = shown.parents[0]
  const parent =
    firstParent === undefined
      ? undefined
      : await store.getCheckpoint(firstParent).catch((err: { code?: string }) => {
          if (err.code === 'NOT_FOUND') return null
          throw err
        })
  const checkpoint = parent === null ? { ...shown, historyCut: true as const } : shown
  const stageOutputs = await Promise.all(
    Object.entries(checkpoint.stages).map(async ([stage, id]) => {
      const info = await store.outputInfo(`${checkpoint.id}:${stage}`)
      const changed = !parent || parent.stages[stage] !== id
      return { stage, id, kind: info.kind, size: info.size, ...(info.files !== undefined && { files: info.files }), changed }
    }),
  )
  return { ...checkpoint, stageOutputs }
}

/** A timeline with what its head checkpoint says (`ckpt timeline`). */
export interface TimelineReport {
  readonly name: string
  readonly head: string
  readonly current: boolean
  readonly stage: string | null
  readonly time: Date
  readonly checkpoint: Checkpoint
}

export async function timelineReport(store: Store): Promise<TimelineReport[]> {
  return Promise.all(
    (await store.timelines.list()).map(async (t) => {
      const checkpoint = await store.getCheckpoint(t.head)
      return { name: t.name, head: t.head, current: t.current, stage: checkpoint.stage ?? null, time: checkpoint.time, checkpoint }
    }),
  )
}

import type { ByteRange } from './blob-stream.js'
import type { StoreIndex } from './index-refs.js'
import type { Timelines } from './timelines.js'
import type { Checkpoint, CommitOptions, HeadInfo, LogOptions, StageOutput } from './types.js'

/**
 * What code built on an open store (pipelines, the LangGraph saver, a pipeline's stages) uses of
 * it: an open `Store` is one. Those features name this, not the store facade above them.
 */
export interface CheckpointStore {
  readonly timelines: Timelines
  readonly index: StoreIndex
  commit(options: CommitOptions): Promise<Checkpoint>
  getCheckpoint(revision: string): Promise<Checkpoint>
  getCheckpoints(revisions: readonly string[]): Promise<Checkpoint[]>
  log(revisions?: string | readonly string[], options?: LogOptions): AsyncIterable<Checkpoint>
  head(): Promise<HeadInfo>
  putOutput(value: unknown): Promise<string>
  getOutput(idOrRevision: string): Promise<StageOutput>
  getBlob(idOrRevision: string, range?: ByteRange): Promise<Uint8Array>
  getBlobs(idsOrRevisions: readonly string[]): Promise<Uint8Array[]>
  /** See `Store.prepareForBlockingWork`. */
  prepareForBlockingWork(): Promise<void>
  close(): Promise<void>
}

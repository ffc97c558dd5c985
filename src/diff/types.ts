import type { OutputKind } from '../core/types.js'
import type { JsonChange } from './json-diff.js'
import type { TextHunk } from './text-diff.js'

export type { JsonChange, TextHunk }

export type StageStatus = 'added' | 'removed' | 'changed' | 'unchanged'

export interface StageDiff {
  readonly stage: string
  readonly status: StageStatus
  readonly from?: string
  readonly to?: string
  /** The output kind, `mixed` when it changed kind. */
  readonly kind?: OutputKind | 'mixed'
  /**
   * For changed JSON outputs: the JSON paths that changed; byte values inside show as `{ "/": id }`
   * links. For changed directories: one entry per file added, removed or changed, at `/` + its path.
   */
  readonly changes?: readonly JsonChange[]
  /** For changed bytes outputs: sizes of each side. */
  readonly size?: { readonly from: number; readonly to: number }
  /**
   * For changed bytes outputs that are both UTF-8 text, and JSON outputs read as text (a log tail,
   * a git diff): a line diff as unified hunks.
   */
  readonly hunks?: readonly TextHunk[]
}

export interface DiffResult {
  readonly from: string
  readonly to: string
  readonly summary: { readonly added: number; readonly removed: number; readonly changed: number; readonly unchanged: number }
  /** Every stage of either side, sorted by name. */
  readonly stages: readonly StageDiff[]
}

export interface DiffOptions {
  /** Only these stages. */
  readonly stages?: readonly string[]
  /** Compute JSON path changes for changed JSON outputs (default true). */
  readonly paths?: boolean
}

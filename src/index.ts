/**
 * ckpt: a git-style, content-addressed checkpoint store for pipelines.
 *
 * Open a store with {@link openStore} (or create one with {@link initStore}), record stage outputs
 * with `store.commit`, and read them back with `log`, `diff`, `checkout`. To embed ckpt on
 * another storage system, implement {@link Backend} and use {@link openStoreOn}.
 */
export { initStore, openStore, initStoreOn, openStoreOn, cloneStore, repairStoreDatabase, cutDamagedJournal, FORMAT_VERSION, STORE_MARKER } from './core/open.js'
export { Store, type Timelines, type Tags } from './core/store.js'
export type { JournalCut } from './backend/level/journal.js'
export type { Pins } from './maintenance/pins.js'
export type { Retention } from './maintenance/retention.js'
export type { ImportResult } from './sync/car.js'
export type { GitExportOptions, GitExportResult } from './sync/git/export.js'
export type { GitImportOptions, GitImportResult } from './sync/git/import.js'
export type { Remotes } from './sync/remotes.js'
export type { TransferResult } from './sync/remote.js'
export { Directory, readDirectory } from './core/directory.js'
export { outputIdOf } from './core/commit.js'
export type { StoreIndex } from './core/index-refs.js'
export type { ByteRange } from './core/blob-stream.js'
export type {
  Checkpoint,
  CheckoutOptions,
  CheckoutResult,
  CommitOptions,
  DiffOptions,
  DiffResult,
  FsckOptions,
  FsckProblem,
  FsckReport,
  GcOptions,
  GcPhase,
  GcResult,
  HeadInfo,
  JsonChange,
  JsonValue,
  LogOptions,
  OutputInfo,
  OutputKind,
  OutputValue,
  ReflogExpireOptions,
  ReflogRecord,
  RepairOptions,
  RepairResult,
  RetentionPolicy,
  RetentionResult,
  StageDiff,
  StageOutput,
  StageStatus,
  StoreOptions,
  TagInfo,
  TextHunk,
  TimelineInfo,
} from './core/types.js'
export { CkptError, isCkptError, type ErrorCode } from './errors.js'
export { fileSystemError, onPath } from './io/fs-errors.js'
export { shortIdOf } from './model/cid.js'
export { createMemoryBackend } from './backend/memory.js'
export { openLevelBackend, type LevelBackendOptions } from './backend/level/shared.js'
export type {
  Backend, BackendSupports, Capability, ObjectStore, RefStore, ObjectEntry, KeyRange, PutOptions, RefEntry, RefUpdate, RefUpdateResult, ReflogEntry, Sweep, ReclaimResult, StorageProblem,
} from './backend/interface.js'
export { run, resume, replay, plan, readAudit, eventStream, StageRegistry } from './pipeline/index.js'
export type {
  AuditEntry,
  ConfigField,
  ConfigType,
  ConfigValue,
  Pipeline,
  PipelineEvent,
  PipelineState,
  PlannedStage,
  PlanRequest,
  ReplayOptions,
  ResumeOptions,
  RunOptions,
  RunResult,
  StageAction,
  StageContext,
  StageDefinition,
  StageResult,
} from './pipeline/index.js'

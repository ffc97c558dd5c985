/**
 * ckpt: a git-style, content-addressed checkpoint store for pipelines.
 *
 * Open a store with {@link openStore} (or create one with {@link initStore}), record stage outputs
 * with `store.commit`, and read them back with `log`, `diff`, `checkout`. A store's location picks
 * its backend: a path (LevelDB), `memory:`, or the URL scheme of a backend added with
 * {@link registerBackend}. To embed ckpt on another storage system, implement {@link Backend} and
 * use {@link openStoreOn}, or register a {@link BackendProvider} for its URLs.
 */
export { initStore, openStore, initStoreOn, openStoreOn, cloneStore, repairStoreDatabase, cutDamagedJournal } from './store/open.js'
export { Store } from './store/store.js'
export { statusReport, checkpointReport, timelineReport, type StatusReport, type StatusStage, type CheckpointReport, type StageOutputReport, type TimelineReport } from './store/reports.js'
export type { Timelines, Tags } from './core/timelines.js'
export type { CheckpointStore } from './core/checkpoint-store.js'
export { registerBackend } from './store/backends.js'
export type { StoreOptions, CommonStoreOptions, BackendOptions } from './store/options.js'
export { FORMAT_VERSION } from './core/format.js'
export { STORE_MARKER, type LevelStoreOptions } from './backend/level/store-folder.js'
export type { BackendProvider, CreatedBackend, OpenedBackend, StoreFormat } from './backend/registry.js'
export type { JournalCut } from './backend/level/journal.js'
export type { Pins } from './maintenance/pins.js'
export type { Retention } from './maintenance/retention.js'
export type { ImportResult } from './sync/car.js'
export type { GitExportOptions, GitExportResult } from './sync/git/export.js'
export type { GitImportOptions, GitImportResult } from './sync/git/import.js'
export type { Remotes } from './sync/remotes.js'
export type { TransferResult } from './sync/remote.js'
export { Directory, readDirectory, type ReadDirectoryOptions } from './core/directory.js'
export { logTail, renderTextOutput, type LogTail, type LogTailLine, type GitDiff } from './model/text-outputs.js'
export { gitWorkingTreeDiff, gitVisibleFiles } from './sync/git/working-tree.js'
export { outputIdOf } from './core/commit.js'
export type { StoreIndex } from './core/index-refs.js'
export type { MergeOptions, MergeResult, StageConflict } from './core/merge.js'
export type { AmendOptions, PickOptions, PickResult, ResetResult } from './core/rewrite.js'
export type { SpaceUsage, StoreStats } from './maintenance/stats.js'
export type { ByteRange } from './core/blob-stream.js'
export type {
  Checkpoint,
  CheckpointSummary,
  CheckoutMove,
  RestoreOptions,
  RestoreResult,
  CommitOptions,
  CopiedStages,
  FsckOptions,
  FsckProblem,
  FsckReport,
  GcOptions,
  GcPhase,
  GcResult,
  HeadInfo,
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
  StageOutput,
  TagInfo,
  TimelineInfo,
} from './core/types.js'
export type { DiffOptions, DiffResult, JsonChange, StageDiff, StageStatus, TextHunk } from './diff/types.js'
export { CkptError, isCkptError, type ErrorCode } from './errors.js'
export { fileSystemError, onPath } from './io/fs-errors.js'
export { shortIdOf } from './model/cid.js'
export { isPlainFileName } from './model/checkpoint.js'
export { createMemoryBackend } from './backend/memory.js'
export { openLevelBackend, type LevelBackendOptions } from './backend/level/shared.js'
export { openPostgresBackend, isPostgresUrl, type PostgresBackendOptions } from './backend/postgres/index.js'
export type { PostgresStoreOptions } from './backend/postgres/provider.js'
export type {
  Backend, BackendSupports, Capability, ObjectStore, RefStore, ObjectEntry, KeyRange, PutOptions, RefEntry, RefUpdate, RefUpdateResult, ReflogEntry, Sweep, ReclaimResult, StorageProblem, ScratchStore,
} from './backend/interface.js'
export { run, resume, replay, plan, readAudit, readLogs, followLogs, StageTimeoutError, listRuns, runSummary, jobTimeline, eventStream, StageRegistry, loadPipelineModule } from './pipeline/index.js'
export { enqueueTask, getTask, listTasks, cancelTask, claimTask, finishTask, startTaskWorker, TASK_STATES } from './pipeline/index.js'
export type { Task, TaskState, TaskRequest, ReplayTaskRequest, ResumeTaskRequest, TaskResult, EnqueueOptions, TaskExecutor, TaskWorker, TaskWorkerOptions } from './pipeline/index.js'
export type {
  AttemptLogView,
  AuditEntry,
  Backoff,
  CapturedLog,
  ConfigField,
  ConfigType,
  ConfigValue,
  LogLine,
  LogQuery,
  LogSource,
  Pipeline,
  PipelineEvent,
  PipelineModule,
  PipelineState,
  PlannedStage,
  PlanRequest,
  ReplayOptions,
  ResumeOptions,
  RunOptions,
  RunResult,
  RunFilter,
  RunStatus,
  RunSummary,
  SerializeContext,
  StageAction,
  StageContext,
  StageDefinition,
  StageResult,
} from './pipeline/index.js'

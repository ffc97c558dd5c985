/**
 * How hard the reliability harness pushes. `npm test` runs it at a size that fits CI;
 * `npm run test:reliability` sets CKPT_RELIABILITY=full for the sizes the issue asks for.
 */
export const FULL = process.env.CKPT_RELIABILITY === 'full'

export const SCALE = {
  /** Writer processes killed with SIGKILL, one after another. */
  kills: FULL ? 200 : 12,
  /** Commits per writer process in the concurrency test (8 writers). */
  commitsPerWriter: FULL ? 500 : 40,
  /** Runs per fuzz property. */
  fuzzRuns: FULL ? 20_000 : 600,
  /** Characters in the huge JSON string. */
  hugeStringChars: FULL ? 500 * 1024 * 1024 : 32 * 1024 * 1024,
  /** How long the leader's synchronous pipeline stage blocks its main thread (the issue asks for 30 s). */
  busyStageMs: FULL ? 30_000 : 8_000,
  /** Per-test time limit for the long-running tests (ms). */
  timeoutMs: FULL ? 3_600_000 : 120_000,
} as const

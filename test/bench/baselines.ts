/**
 * Baseline workloads for `npm run bench`: the same work done by other tools (isomorphic-git,
 * the git CLI, plain appends, `cp`), measured here and printed by run.ts beside ckpt's figures.
 * Nothing in this module imports ckpt or prints.
 */
import { execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import git from 'isomorphic-git'
import { prng } from '../support/random.js'

export interface StageState {
  readonly stage: string
  readonly json: string
}

const STAGES = 20
const JSON_TARGET_CHARS = 2000
const LABELS = ['person', 'car', 'bicycle', 'dog', 'truck', 'bus', 'cat', 'traffic light']

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9
}

function stageName(index: number): string {
  return `stage${index}`
}

/**
 * A stage's output at `step`: detections are added until the JSON reaches ~2 KB, so it stays
 * realistic (numbers, not a run of padding that zlib or snappy would squeeze to nothing).
 */
function stageJson(stageIndex: number, step: number): string {
  const random = prng(stageIndex * 1_000_003 + step)
  const detections: object[] = []
  let chars = JSON.stringify({ step, stage: stageName(stageIndex), detections: [] }).length
  while (chars < JSON_TARGET_CHARS) {
    const detection = {
      id: detections.length,
      label: LABELS[Math.floor(random() * LABELS.length)],
      score: Math.round(random() * 1000) / 1000,
      box: [0, 0, 0, 0].map(() => Math.floor(random() * 1920)),
    }
    detections.push(detection)
    chars += JSON.stringify(detection).length + 1
  }
  return JSON.stringify({ step, stage: stageName(stageIndex), detections })
}

/** History shape shared with ckpt's own run: the 20 stages' starting outputs (~2 KB of JSON each, deterministic). */
/**
 * Writes out every dirty page of the page cache and waits for the disk: the writeback of work
 * measured earlier (gigabytes, for the large-file rows) must not slow the work measured next.
 */
export function settleDisk(): void {
  execFileSync('sync')
}

export function initialStages(): StageState[] {
  return Array.from({ length: STAGES }, (_, i) => ({ stage: stageName(i), json: stageJson(i, 0) }))
}

/**
 * History shape shared with ckpt's own run: `changes[i]` is the one stage whose output changed
 * at step i + 1 (stages in rotation), with its new ~2 KB JSON. Apply them on top of initialStages().
 */
export function stageHistory(steps: number): StageState[] {
  return Array.from({ length: steps }, (_, i) => {
    const stageIndex = i % STAGES
    return { stage: stageName(stageIndex), json: stageJson(stageIndex, i + 1) }
  })
}

const encoder = new TextEncoder()
const IDENTITY = { name: 'bench', email: 'bench@example.com', timezoneOffset: 0 }
const BRANCH = 'refs/heads/main'

function treeOf(blobs: ReadonlyMap<string, string>): { mode: string; path: string; oid: string; type: 'blob' }[] {
  return [...blobs].map(([stage, oid]) => ({ mode: '100644', path: `${stage}.json`, oid, type: 'blob' as const }))
}

async function commitState(dir: string, blobs: ReadonlyMap<string, string>, parent: string[], step: number): Promise<string> {
  const tree = await git.writeTree({ fs, dir, tree: treeOf(blobs) })
  const signature = { ...IDENTITY, timestamp: 1_700_000_000 + step }
  const commit = await git.writeCommit({ fs, dir, commit: { message: `step ${step}\n`, tree, parent, author: signature, committer: signature } })
  await git.writeRef({ fs, dir, ref: BRANCH, value: commit, force: true })
  return commit
}

/** Apparent size (like `du -sb`, without directory entries) of every file under `dir`. */
function sizeOfFiles(dir: string): number {
  let total = 0
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) total += sizeOfFiles(full)
    else if (entry.isFile()) total += fs.statSync(full).size
  }
  return total
}

/**
 * isomorphic-git writing the same history as loose objects: per change, a blob for the changed
 * stage (unchanged stages reuse their blob oids), a tree of 20 `<stage>.json` entries, a commit
 * whose parent is the previous one, and refs/heads/main updated.
 *
 * Timed: the change loop only; the initial state's blobs, tree and commit are written before the
 * clock starts, so `commits` (= changes.length) over `seconds` is commits per second.
 * `bytesOnDisk`: apparent size of all files under `dir`/.git, the initial commit included.
 * Durability: process crash at best. No fsync, and objects and the ref are written in place
 * (no temp file and rename), so a crash mid-write can leave a torn object or ref.
 */
export async function isomorphicGitHistory(dir: string, initial: StageState[], changes: StageState[]): Promise<{ seconds: number; bytesOnDisk: number; commits: number }> {
  await git.init({ fs, dir, defaultBranch: 'main' })
  // Tree entries must be in git's order; a Map keeps insertion order, so insert sorted once.
  const blobs = new Map<string, string>()
  for (const { stage, json } of [...initial].sort((a, b) => (a.stage < b.stage ? -1 : 1))) {
    blobs.set(stage, await git.writeBlob({ fs, dir, blob: encoder.encode(json) }))
  }
  let head = await commitState(dir, blobs, [], 0)

  const start = process.hrtime.bigint()
  for (const [i, { stage, json }] of changes.entries()) {
    if (!blobs.has(stage)) throw new Error(`change to unknown stage ${stage}`)
    blobs.set(stage, await git.writeBlob({ fs, dir, blob: encoder.encode(json) }))
    head = await commitState(dir, blobs, [head], i + 1)
  }
  const elapsed = seconds(start)
  return { seconds: elapsed, bytesOnDisk: sizeOfFiles(path.join(dir, '.git')), commits: changes.length }
}

/** Runs git with no user or system config, so a machine's own settings (core.fsync, signing, hooks path) cannot skew it. */
function runGit(cwd: string, args: string[]): void {
  execFileSync('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@example.com', ...args], {
    cwd,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
  })
}

/** Hard link when on the same filesystem (no second copy, no dirty pages); copy otherwise. */
function placeFile(file: string, target: string): void {
  try {
    fs.linkSync(file, target)
  } catch {
    fs.copyFileSync(file, target)
  }
}

/**
 * The real git CLI (default config): `git add` + `git commit` of one file in a fresh repo.
 * `repoDir` is created and initialised; unless `file` already lies directly in `repoDir`, it is
 * hard-linked (or, across filesystems, copied) into it before the clock starts. Timed: add + commit.
 * Durability (git 2.36+ default core.fsync): a file above core.bigFileThreshold (512 MiB) is
 * streamed into a pack, which is fsynced; a smaller one becomes a loose object, which is not.
 * The tree, commit, index and ref are never fsynced, so the commit itself survives a process
 * crash, not power loss.
 */
export function gitCliCommitFile(repoDir: string, file: string): { seconds: number } {
  fs.mkdirSync(repoDir, { recursive: true })
  runGit(repoDir, ['init', '-q', '-b', 'main'])
  const name = path.basename(file)
  if (path.resolve(path.dirname(file)) !== path.resolve(repoDir)) placeFile(file, path.join(repoDir, name))
  const start = process.hrtime.bigint()
  runGit(repoDir, ['add', '--', name])
  runGit(repoDir, ['commit', '-q', '-m', 'x'])
  return { seconds: seconds(start) }
}

function fsyncPath(target: string): void {
  const fd = fs.openSync(target, 'r')
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

/** fsync a file, then its directory so the new directory entry is durable too. */
function fsyncFileAndDir(file: string): void {
  fsyncPath(file)
  fsyncPath(path.dirname(file))
}

/**
 * The disk-speed baseline: write every piece from `pieces()` to a new (truncated) `file` in
 * order, then fsync the file and its directory once at the end. The generator runs inside the
 * timing, so it should yield ready-made buffers. Durability: power loss (after the final fsync).
 */
export async function appendWithFsync(file: string, pieces: () => Iterable<Uint8Array>): Promise<{ seconds: number; bytes: number }> {
  const start = process.hrtime.bigint()
  const handle = await fs.promises.open(file, 'w')
  let bytes = 0
  try {
    for (const piece of pieces()) {
      let written = 0
      while (written < piece.length) written += (await handle.write(piece, written)).bytesWritten
      bytes += written
    }
    await handle.sync()
  } finally {
    await handle.close()
  }
  fsyncPath(path.dirname(file))
  return { seconds: seconds(start), bytes }
}

/**
 * `cp src dst` (the coreutils binary), timed twice on one copy: `seconds` until cp exits (the
 * data may still be only in the page cache: survives a process crash, not power loss), and
 * `secondsWithFsync` until dst and its directory have also been fsynced (survives power loss).
 */
export function cpFile(src: string, dst: string): { seconds: number; secondsWithFsync: number } {
  const start = process.hrtime.bigint()
  execFileSync('cp', [src, dst], { stdio: ['ignore', 'ignore', 'pipe'] })
  const copied = seconds(start)
  fsyncFileAndDir(dst)
  return { seconds: copied, secondsWithFsync: seconds(start) }
}

interface ChildRun {
  readonly stdout: string
  readonly seconds: number
}

/** Spawns `command`, collects stdout, rejects on a non-zero exit; `watch(pid)` starts sampling and returns its stop. */
function runChild(command: string, args: string[], watch?: (pid: number) => () => void): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint()
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    const stdout: Buffer[] = []
    const stderr: Buffer[] = []
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))
    const stop = watch === undefined || child.pid === undefined ? () => undefined : watch(child.pid)
    child.on('error', (error) => {
      stop()
      reject(error)
    })
    child.on('close', (code, signal) => {
      stop()
      const elapsed = seconds(start)
      if (code === 0) resolve({ stdout: Buffer.concat(stdout).toString('utf8'), seconds: elapsed })
      else reject(new Error(`${command} ${args.join(' ')} exited ${code ?? signal}: ${Buffer.concat(stderr).toString('utf8')}`))
    })
  })
}

/** Peak RSS via GNU time, which reads it from wait4()'s rusage, so nothing between samples is missed. */
async function peakRssWithTime(script: string, args: string[]): Promise<{ peakRssBytes: number; seconds: number; stdout: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckpt-bench-time-'))
  const report = path.join(dir, 'maxrss')
  try {
    const run = await runChild('/usr/bin/time', ['-f', '%M', '-o', report, process.execPath, script, ...args], () => () => undefined)
    const kib = Number(fs.readFileSync(report, 'utf8').trim().split('\n').at(-1))
    if (!Number.isFinite(kib)) throw new Error(`unreadable /usr/bin/time report in ${report}`)
    return { peakRssBytes: kib * 1024, ...run }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

function readVmHwmBytes(pid: number): number | undefined {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match?.[1] === undefined ? undefined : Number(match[1]) * 1024
  } catch {
    return undefined // the process has exited between samples
  }
}

/** Peak RSS by sampling /proc/<pid>/status VmHWM (a high-water mark) every 20 ms; the last read sample is the peak. */
export async function peakRssByPolling(script: string, args: string[]): Promise<{ peakRssBytes: number; seconds: number; stdout: string }> {
  let peak = 0
  const sample = (pid: number) => {
    peak = Math.max(peak, readVmHwmBytes(pid) ?? 0)
  }
  const run = await runChild(process.execPath, [script, ...args], (pid) => {
    sample(pid)
    const timer = setInterval(() => sample(pid), 20)
    return () => clearInterval(timer)
  })
  return { peakRssBytes: peak, ...run }
}

/**
 * Peak RSS (bytes) of a child `node script ...args`, with its wall time and stdout. Uses
 * `/usr/bin/time -f %M` when present (exact), else peakRssByPolling (Linux; may miss growth in
 * the child's last 20 ms). Rejects if the child exits non-zero.
 */
export function peakRssOfChild(script: string, args: string[]): Promise<{ peakRssBytes: number; seconds: number; stdout: string }> {
  return fs.existsSync('/usr/bin/time') ? peakRssWithTime(script, args) : peakRssByPolling(script, args)
}

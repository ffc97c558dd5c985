import { createHash } from 'node:crypto'
import { closeSync, constants, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, realpathSync, rmSync, writeSync, type Stats } from 'node:fs'
import { once } from 'node:events'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'
import { ClassicLevel } from 'classic-level'
import { CkptError } from '../../errors.js'
import { successor } from '../bytes.js'
import type { Backend, BackendSupports, KeyRange, ObjectEntry, ObjectStore, RefStore, RefUpdate, RefUpdateResult, ScratchStore, Sweep } from '../interface.js'
import { checkFolderOfOwnFiles, kindOf } from '../../io/own-files.js'
import { Journal, type JournalCut, type JournalLayout } from './journal.js'
import { LEVELDB_FOLDERS, LEVEL_SUPPORTS, journalPaths, openLocalLevel, type Durability } from './local.js'
import { SWEEP_METHODS, forwardCalls, methodOf } from './methods.js'
import { cannotWrite, isReadOnlyError, isTransient, openReadOnlyLevel, rootMessage } from './read-only.js'
import type { LeaderWorkerData, LeaderWorkerMessage } from './leader-worker.js'
import { LeaderLostError, OtherBuildError, connectToLeader, serveBackend, type LeaderEndpoint, type RemoteBackend } from './rpc.js'

/*
 * LevelDB allows one process per database. To let a pipeline keep a store open for hours
 * while `ckpt log` runs in another terminal, the first process to open the database becomes
 * the leader and serves the others over a local socket; when the leader exits, the database
 * lock is released and the next caller takes over (docs/backends.md).
 */

export interface LevelBackendOptions {
  readonly durability?: Durability
  readonly createIfMissing?: boolean
  /** How long to keep trying to reach the store while a leader starts or fails over. */
  readonly attachTimeoutMs?: number
  /** Where pack files (large values) live. Default: beside the database, `<location>.packs`. */
  readonly packDir?: string
  /**
   * How long a follower waits for any sign of life from the leader while a request is out
   * (the leader answers pings even mid-request). Default: CKPT_LEADER_TIMEOUT_MS, else 10 s.
   */
  readonly leaderTimeoutMs?: number
}

const DEFAULT_LEADER_TIMEOUT_MS = 10_000

function leaderTimeoutFromEnvironment(): number {
  const given = Number(process.env.CKPT_LEADER_TIMEOUT_MS)
  return Number.isFinite(given) && given > 0 ? given : DEFAULT_LEADER_TIMEOUT_MS
}

type Role =
  | { kind: 'leader'; backend: Backend; endpoint: LeaderEndpoint }
  | { kind: 'follower'; backend: Backend }
  /** The database served by a worker thread of this process, reached over the socket like a follower. */
  | { kind: 'thread'; backend: RemoteBackend; endpoint: LeaderEndpoint }
  /** The database cannot be written here (read-only, full disk): a snapshot, served to no one. */
  | { kind: 'read-only'; backend: Backend; transient: boolean }

/** Opens the LevelDB backend at `location` (the database directory), shared across processes. */
export async function openLevelBackend(location: string, options: LevelBackendOptions = {}): Promise<Backend> {
  const backend = new SharedLevelBackend(location, options)
  await backend.attach()
  return backend
}

/** LevelDB's capabilities, and the hand-off of the database to a worker thread before blocking work. */
const SHARED_LEVEL_SUPPORTS: BackendSupports = Object.freeze({ ...LEVEL_SUPPORTS, blockingWorkHandoff: true })

class SharedLevelBackend implements Backend {
  readonly description: string
  readonly supports = SHARED_LEVEL_SUPPORTS
  readonly objects: ObjectStore
  readonly refs: RefStore
  readonly scratch: ScratchStore
  readonly #location: string
  readonly #socketPath: string
  readonly #options: Required<LevelBackendOptions>
  #role: Role | undefined
  #attaching: Promise<Role> | undefined
  /** A role being given up (a wedged database, a read-only snapshot): closed before the next election. */
  #retiring: Promise<void> | undefined
  #closed = false
  /** Set once this process is about to run work that may block its main thread: lead from a worker thread. */
  #leadFromThread = false
  #handover: Promise<void> | undefined
  readonly #retired = new WeakSet<Role>()

  constructor(location: string, options: LevelBackendOptions) {
    this.#location = location
    this.description = `level:${location}`
    this.#options = { durability: 'process', createIfMissing: false, attachTimeoutMs: 20_000, packDir: `${location}.packs`, leaderTimeoutMs: leaderTimeoutFromEnvironment(), ...options }
    this.#socketPath = leaderSocketPath(location)
    const via = <T>(use: (b: Backend) => Promise<T>) => this.#withRole(use)
    // Plain calls go to whichever process holds the database now; the rest need more care.
    const objects: Partial<ObjectStore> = {
      ...forwardCalls('objects', this.supports, via),
      keys: (range) => this.#keys(range ?? {}),
      writtenSince: (since) => this.#once((b) => b.objects.writtenSince(since)),
      beginSweep: () => via(async (b) => pinnedSweep(await b.objects.beginSweep())),
      // A follower reads through its leader, into memory of its own.
      getInto: (key, into) => via((b) => (b.objects.getInto ? b.objects.getInto(key, into) : b.objects.get(key))),
    }
    this.objects = objects as ObjectStore
    const refs: Partial<RefStore> = {
      ...forwardCalls('refs', this.supports, via),
      updateRefs: (updates, objects, requires) => this.#updateRefs(updates, objects ?? [], requires ?? []),
    }
    this.refs = refs as RefStore
    this.scratch = forwardCalls('scratch', this.supports, via) as unknown as ScratchStore
  }

  async attach(): Promise<Role> {
    if (this.#closed) throw new CkptError('STORE_CLOSED', 'the store is closed')
    for (;;) {
      if (this.#role && this.#usable(this.#role)) return this.#role
      this.#attaching ??= this.#elect().finally(() => (this.#attaching = undefined))
      const role = await this.#attaching
      // Given up while this call waited (a handover to the database thread): elect again.
      if (this.#retired.has(role)) continue
      this.#role = role
      return role
    }
  }

  #usable(role: Role): boolean {
    if (this.#retired.has(role)) return false
    return role.kind === 'leader' || role.kind === 'read-only' || !(role.backend as { lost?: boolean }).lost
  }

  async #elect(): Promise<Role> {
    await this.#retiring
    const deadline = Date.now() + this.#options.attachTimeoutMs
    let delay = 2
    for (;;) {
      const leader = this.#leadFromThread ? await this.#tryLeadFromThread() : await this.#tryLead()
      if (leader) return leader
      checkSocketPath(this.#socketPath)
      try {
        const watch = { deadlineMs: this.#options.leaderTimeoutMs, silent: () => this.#leaderSilent() }
        return { kind: 'follower', backend: await connectToLeader(this.#socketPath, this.description, LEVEL_SUPPORTS, watch) }
      } catch (err) {
        if (err instanceof OtherBuildError) throw this.#leaderOfOtherBuild()
        // A leader that accepted the connection and then fell silent (stopped, hung).
        if (err instanceof CkptError) throw err
        // The leader is starting (database open, socket not yet listening) or has just died.
      }
      if (Date.now() > deadline) throw this.#leaderSilent()
      await sleep(delay)
      delay = Math.min(delay * 2, 50)
    }
  }

  /** The error for a leader that holds the database but does not answer, naming it where known. */
  #leaderSilent(): CkptError {
    const pid = readLeaderPid(this.#socketPath)
    const who = pid === undefined ? 'another process' : `another process (pid ${pid})`
    const hint =
      pid === undefined
        ? 'check for a stopped or hung ckpt process'
        : `if that process is stopped (Ctrl-Z, SIGSTOP), resume it with \`kill -CONT ${pid}\`; if it is hung, end it and run the command again`
    return new CkptError('STORE_UNAVAILABLE', `the store at ${this.#location} is held by ${who} that does not answer; ${hint}`, {
      details: { path: this.#location, ...(pid === undefined ? {} : { pid }), hint },
    })
  }

  /** The error for a leader running another ckpt build, which this one must not talk to. */
  #leaderOfOtherBuild(): CkptError {
    const pid = readLeaderPid(this.#socketPath)
    const who = pid === undefined ? 'another process' : `another process (pid ${pid})`
    const hint = 'let that process finish (or end it), then run the command again'
    return new CkptError('STORE_UNAVAILABLE', `the store at ${this.#location} is held by ${who} running a different ckpt build from this one; ${hint}`, {
      details: { path: this.#location, ...(pid === undefined ? {} : { pid }), hint },
    })
  }

  async #tryLead(): Promise<Role | undefined> {
    let local: Backend
    let role: Role | undefined
    const { durability, createIfMissing, packDir } = this.#options
    try {
      // A database that failed a write is given up and opened again (write-queue.ts).
      local = await openLocalLevel(this.#location, { durability, createIfMissing, packDir, onWedged: () => role && this.#retire(role) })
    } catch (err) {
      if (isLockedError(err)) return undefined
      if (!cannotWrite(err)) throw openError(this.#location, err)
      const reason = rootMessage(err)
      return { kind: 'read-only', backend: await openReadOnlyLevel(this.#location, { packDir, reason }), transient: isTransient(reason) }
    }
    try {
      // We hold the database lock, so any socket file left here belongs to a dead leader.
      if (!this.#socketPath.startsWith('\\\\')) rmSync(this.#socketPath, { force: true })
      const endpoint = await serveBackend(this.#socketPath, local)
      writeLeaderPid(this.#socketPath)
      role = { kind: 'leader', backend: local, endpoint }
      return role
    } catch (err) {
      await local.close()
      throw new CkptError('STORE_UNAVAILABLE', `cannot listen for other processes at ${this.#socketPath}: ${(err as Error).message}`, { cause: err })
    }
  }

  /**
   * Moves the database off this thread before work that may block it (a pipeline's synchronous
   * stage): a worker thread takes the lead and this thread follows it, so other processes keep
   * their answers. Ordinary commands never pay for the thread. Calls in flight on the database
   * given up fail over as when a leader exits.
   */
  prepareForBlockingWork(): Promise<void> {
    if (this.#closed) return Promise.resolve()
    return (this.#handover ??= (async () => {
      this.#leadFromThread = true
      const role = this.#role ?? (await this.#attaching?.catch(() => undefined))
      if (role?.kind === 'leader') this.#retire(role)
      await this.attach()
    })().catch((err: unknown) => {
      this.#handover = undefined
      throw err
    }))
  }

  /**
   * Opens the database in a worker thread that serves it on the socket, and connects to it.
   * Undefined if another process holds the database; leads from this thread if the worker cannot
   * (a read-only store, a damaged database: that path reports it in full).
   */
  async #tryLeadFromThread(): Promise<Role | undefined> {
    const { durability, packDir } = this.#options
    const data: LeaderWorkerData = { location: this.#location, socketPath: this.#socketPath, durability, packDir }
    let worker: Worker
    try {
      worker = new Worker(leaderWorkerUrl(), { workerData: data })
    } catch {
      return this.#tryLead()
    }
    const outcome = await new Promise<LeaderWorkerMessage>((resolve) => {
      worker.once('message', resolve)
      worker.once('error', (err) => resolve({ kind: 'failed', message: err.message }))
      worker.once('exit', (code) => resolve({ kind: 'failed', message: `the database thread exited (${code})` }))
    })
    if (outcome.kind !== 'ready') {
      await worker.terminate()
      return outcome.kind === 'locked' ? undefined : this.#tryLead()
    }
    // The thread must not keep the process alive on its own; the connection below does while the store is open.
    worker.unref()
    writeLeaderPid(this.#socketPath)
    const stop = async () => {
      const exited = once(worker, 'exit')
      worker.ref()
      worker.postMessage('close')
      await exited
    }
    let backend: RemoteBackend
    try {
      const watch = { deadlineMs: this.#options.leaderTimeoutMs, silent: () => this.#leaderSilent() }
      backend = await connectToLeader(this.#socketPath, this.description, LEVEL_SUPPORTS, watch)
    } catch (err) {
      await stop()
      throw new CkptError('STORE_UNAVAILABLE', `cannot reach the database thread at ${this.#socketPath}: ${(err as Error).message}`, { cause: err })
    }
    let closing: Promise<void> | undefined
    const endpoint: LeaderEndpoint = {
      close: () =>
        (closing ??= (async () => {
          await backend.close()
          await stop()
        })()),
    }
    return { kind: 'thread', backend, endpoint }
  }

  async #withRole<T>(use: (b: Backend) => Promise<T>): Promise<T> {
    let reopened = false
    for (;;) {
      const role = await this.attach()
      try {
        return await use(role.backend)
      } catch (err) {
        if (!reopened && this.#mayBeWritableNow(role, err)) reopened = true
        else if (!(err instanceof LeaderLostError || this.#wasRetired(role, err))) throw err
        else this.#dropRole(role)
      }
    }
  }

  #dropRole(role: Role): void {
    if (this.#role === role) this.#role = undefined
  }

  /** A write refused by a snapshot taken while the disk was full: try the database again, once. */
  #mayBeWritableNow(role: Role, err: unknown): boolean {
    if (!(role.kind === 'read-only' && role.transient && isReadOnlyError(err))) return false
    this.#retire(role)
    return true
  }

  /** A call that met a database closed under it because it was given up: it runs again on the next one. */
  #wasRetired(role: Role, err: unknown): boolean {
    return !this.#closed && (this.#role !== role || this.#retired.has(role)) && err instanceof CkptError && err.code === 'STORE_CLOSED'
  }

  /** Gives `role` up and closes it; the next call elects again. Followers of a leader re-elect. */
  #retire(role: Role): void {
    this.#retired.add(role)
    this.#dropRole(role)
    const previous = this.#retiring
    const closing = (async () => {
      await previous
      if (role.kind === 'leader' || role.kind === 'thread') await role.endpoint.close().catch(() => undefined)
      await role.backend.close().catch(() => undefined)
    })()
    this.#retiring = closing
    void closing.finally(() => {
      if (this.#retiring === closing) this.#retiring = undefined
    })
  }

  /**
   * A ref transaction whose leader went away mid-call may or may not have been applied. On retry,
   * a conflict means either another writer won, or our first attempt did: the reflog tells which.
   */
  async #updateRefs(updates: readonly RefUpdate[], objects: readonly ObjectEntry[], requires: ReadonlyArray<readonly Uint8Array[]>): Promise<RefUpdateResult> {
    let retried = false
    let reopened = false
    for (;;) {
      const role = await this.attach()
      try {
        const result = await role.backend.refs.updateRefs(updates, objects, requires)
        if (result.ok || !retried || 'missing' in result) return result
        // Applied before the leader went away if each ref's log holds exactly this move; other
        // writers may have moved the refs on since, so their current values prove nothing.
        const logs = await Promise.all(updates.map((u) => role.backend.refs.readReflog(u.name, { newestFirst: true, limit: 256 })))
        const applied = updates.every((u, i) =>
          logs[i]?.some((e) => e.old === u.expected && e.new === u.value && e.time === u.log.time && e.reason === u.log.reason),
        )
        return applied ? { ok: true } : result
      } catch (err) {
        if (!reopened && this.#mayBeWritableNow(role, err)) {
          reopened = true
          continue
        }
        if (!(err instanceof LeaderLostError || this.#wasRetired(role, err))) throw err
        this.#dropRole(role)
        retried = true
      }
    }
  }

  async *#keys(range: KeyRange): AsyncIterable<Uint8Array> {
    let gte = range.gte
    for (;;) {
      const role = await this.attach()
      try {
        for await (const key of role.backend.objects.keys({ ...range, gte })) {
          yield key
          gte = successor(key)
        }
        return
      } catch (err) {
        if (!(err instanceof LeaderLostError)) throw err
        this.#dropRole(role)
      }
    }
  }

  /** A listing that cannot resume on another leader: losing this one fails it. */
  async *#once(list: (b: Backend) => AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
    const role = await this.attach()
    try {
      yield* list(role.backend)
    } catch (err) {
      throw err instanceof LeaderLostError ? leaderLostMidTask() : err
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const role = this.#role ?? (await this.#attaching?.catch(() => undefined))
    this.#role = undefined
    await this.#retiring
    if (!role || this.#retired.has(role)) return
    if (role.kind === 'leader' || role.kind === 'thread') await role.endpoint.close()
    await role.backend.close()
  }
}

/**
 * The compiled worker module beside this one. Run from source (the test runner loads .ts files
 * directly, which a worker thread cannot), the build's copy under dist/ is used instead.
 */
function leaderWorkerUrl(): URL {
  const here = import.meta.url
  if (!here.endsWith('.ts')) return new URL('./leader-worker.js', here)
  return new URL(here.replace(/\/src\/backend\/level\/shared\.ts$/, '/dist/src/backend/level/leader-worker.js'))
}

/**
 * A sweep belongs to the leader it began on: when that process goes, the session and its hold
 * go with it, so the collector must stop rather than carry on against a new leader.
 */
function pinnedSweep(sweep: Sweep): Sweep {
  const pinned: Record<string, (...args: unknown[]) => Promise<unknown>> = {}
  for (const name of Object.keys(SWEEP_METHODS)) {
    const call = methodOf(sweep, name)!
    pinned[name] = async (...args) => {
      try {
        return await call(...args)
      } catch (err) {
        throw err instanceof LeaderLostError ? leaderLostMidTask() : err
      }
    }
  }
  // Ending a session whose leader went away has nothing left to end.
  pinned.end = () => sweep.end().catch((err: unknown) => {
    if (!(err instanceof LeaderLostError)) throw err
  })
  return pinned as unknown as Sweep
}

function leaderLostMidTask(): CkptError {
  return new CkptError('STORE_UNAVAILABLE', 'the process holding the store went away during the task; run it again')
}

/**
 * Why the database would not open. A damaged one (a table file missing, a checksum failing) is
 * CORRUPT_OBJECT with `details.damaged`, which `repairLevelDatabase` can rebuild; anything else
 * (permissions, a read-only disk) is STORE_UNAVAILABLE. Either way, LevelDB's own words are kept.
 */
function openError(location: string, err: unknown): CkptError {
  if (err instanceof CkptError) return err
  const root = (err as { cause?: { code?: string; message?: string } }).cause
  const descriptorLost = root?.code !== 'LEVEL_CORRUPTION' && lostDescriptor(location)
  const reason = descriptorLost ? 'its CURRENT or MANIFEST file is missing' : (root?.message ?? (err as Error).message)
  const damaged = root?.code === 'LEVEL_CORRUPTION' || descriptorLost
  if (damaged) {
    return new CkptError('CORRUPT_OBJECT', `the database at ${location} is damaged (${reason}); \`ckpt fsck --repair\` rebuilds it from what remains`, {
      cause: err,
      details: { path: location, damaged: true },
    })
  }
  return new CkptError('STORE_UNAVAILABLE', `cannot open the database at ${location}: ${reason}`, { cause: err, details: { path: location } })
}

/**
 * Whether the database's data files remain but the files that describe them (CURRENT, or the
 * MANIFEST it names) are gone: LevelDB then sees no database, yet RepairDB recovers it all.
 */
function lostDescriptor(location: string): boolean {
  let names: string[]
  try {
    names = readdirSync(location)
  } catch {
    return false
  }
  const hasData = names.some((n) => /^\d+\.(ldb|sst|log)$/.test(n))
  const hasManifest = names.some((n) => n.startsWith('MANIFEST-'))
  return hasData && (!names.includes('CURRENT') || !hasManifest)
}

/**
 * Rebuilds a damaged database from the files that remain (LevelDB's RepairDB). What the lost
 * files held is gone; everything else is kept. Only for a database no process has open.
 */
export async function repairLevelDatabase(location: string): Promise<void> {
  checkFolderOfOwnFiles(location, 'the database folder', LEVELDB_FOLDERS)
  try {
    await ClassicLevel.repair(location)
  } catch (cause) {
    throw new CkptError('IO_ERROR', `cannot repair the database at ${location}: ${(cause as Error).message}`, { cause })
  }
}

/**
 * Cuts each write journal of the database at `location` where it is damaged, keeping the bytes
 * cut off in a file beside it, so the store opens without the writes they held. Returns what was
 * cut (nothing when no journal is damaged). STORE_UNAVAILABLE when another process has it open.
 */
export async function cutDamagedLevelJournals(location: string): Promise<JournalCut[]> {
  checkFolderOfOwnFiles(location, 'the database folder', LEVELDB_FOLDERS)
  // Holding the database lock: no leader can be appending to the journal while it is cut.
  const db = new ClassicLevel(location)
  try {
    await db.open({ createIfMissing: false })
  } catch (err) {
    if (isLockedError(err)) throw new CkptError('STORE_UNAVAILABLE', `the store at ${location} is open in another process; stop it before cutting its journal`, { details: { path: location } })
    throw openError(location, err)
  }
  try {
    const { journal, legacy } = journalPaths(location)
    const cuts: JournalCut[] = []
    for (const [file, layout] of [[legacy, 'legacy'], [journal, 'current']] as Array<[string, JournalLayout]>) {
      const cut = Journal.cutAtDamage(file, layout, `${file}.damaged-${Date.now()}`)
      if (cut) cuts.push(cut)
    }
    return cuts
  } catch (cause) {
    throw cause instanceof CkptError ? cause : new CkptError('IO_ERROR', `cannot cut the write journal in ${location}: ${(cause as Error).message}`, { cause })
  } finally {
    await db.close()
  }
}

/** Where the leader records its pid, so a follower can name a leader that does not answer. */
function leaderPidPath(socketPath: string): string | undefined {
  return socketPath.startsWith('\\\\') ? undefined : `${socketPath}.pid`
}

function writeLeaderPid(socketPath: string): void {
  const file = leaderPidPath(socketPath)
  if (!file) return
  try {
    // Never through a symlink: the file is ours alone, beside the socket.
    const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600)
    try {
      writeSync(fd, `${process.pid}\n`)
    } finally {
      closeSync(fd)
    }
  } catch {
    // Only used to name the leader in an error; serving does not depend on it.
  }
}

function readLeaderPid(socketPath: string): number | undefined {
  const file = leaderPidPath(socketPath)
  if (!file) return undefined
  try {
    const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW)
    try {
      const pid = Number(readFileSync(fd, 'utf8').trim())
      return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
    } finally {
      closeSync(fd)
    }
  } catch {
    return undefined
  }
}

function isLockedError(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } }
  return e.code === 'LEVEL_LOCKED' || e.cause?.code === 'LEVEL_LOCKED'
}

/**
 * Where the leader listens: a socket inside the store directory when the path is short enough
 * for a Unix socket, else in a per-user private folder under the temp directory. Both are
 * reachable only by users who could open the store's files anyway.
 */
function leaderSocketPath(location: string): string {
  const real = realpathSync(path.dirname(location))
  const id = createHash('sha256').update(path.join(real, path.basename(location))).digest('hex').slice(0, 24)
  if (process.platform === 'win32') return `\\\\?\\pipe\\ckpt-${id}`
  const beside = path.join(real, 'leader.sock')
  if (Buffer.byteLength(beside) < 100) return beside
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0
  const folder = path.join(os.tmpdir(), `ckpt-${uid}`)
  mkdirSync(folder, { recursive: true, mode: 0o700 })
  const stats = lstatSync(folder)
  if (!stats.isDirectory()) throw new CkptError('STORE_UNAVAILABLE', `${folder} is ${kindOf(stats)}, not a folder; ckpt does not put the store's socket there`, { details: { path: folder } })
  if (stats.uid !== uid) throw new CkptError('STORE_UNAVAILABLE', `${folder} belongs to another user`, { details: { path: folder } })
  return path.join(folder, `${id}.sock`)
}

/**
 * STORE_UNAVAILABLE when something else than a socket sits at the leader's socket path: a link
 * planted there would have followers talk to whatever it points at.
 */
function checkSocketPath(socketPath: string): void {
  if (socketPath.startsWith('\\\\')) return
  let stats: Stats
  try {
    stats = lstatSync(socketPath)
  } catch {
    return
  }
  if (!stats.isSocket()) {
    throw new CkptError('STORE_UNAVAILABLE', `the store's socket ${socketPath} is ${kindOf(stats)}, not the socket of the process holding the store; move it aside`, {
      details: { path: socketPath },
    })
  }
}

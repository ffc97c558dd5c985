import { CkptError } from '../../errors.js'
import type { Backend, BackendSupports, Capability, ObjectStore, RefStore, ScratchStore, Sweep } from '../interface.js'

/*
 * The one table of backend methods that crosses the socket between a follower and its leader
 * (rpc.ts builds the follower's proxy and the leader's dispatcher from it; shared.ts forwards
 * through it). A method added to the interface fails to compile until it has a row here.
 */

/** How a method's call crosses the wire. */
export type Shape =
  /** One request, one answer. */
  | 'call'
  /** `keys(range)`: pages of keys, each page asked for from after the last key of the one before. */
  | 'keyPages'
  /** A listing the leader keeps open for the follower, read a page at a time. */
  | 'stream'
  /**
   * Never crosses: only the process holding the database answers it. A follower's backend lacks
   * it, and the shared backend answers it there another way (shared.ts).
   */
  | 'local'
  /** `beginSweep`: opens a session on the leader, whose own calls are in {@link SWEEP_METHODS}. */
  | 'session'

export interface MethodRow {
  readonly shape: Shape
  /** Present only on a backend declaring this capability. */
  readonly capability?: Capability
}

export const OBJECT_METHODS = {
  get: { shape: 'call' },
  getMany: { shape: 'call', capability: 'batchedReads' },
  getInto: { shape: 'local', capability: 'readsInto' },
  has: { shape: 'call' },
  putMany: { shape: 'call' },
  sizes: { shape: 'call' },
  keys: { shape: 'keyPages' },
  writtenSince: { shape: 'stream' },
  forgetWritesBefore: { shape: 'call', capability: 'forgetWrites' },
  beginSweep: { shape: 'session' },
  reclaim: { shape: 'call', capability: 'reclaim' },
  checkStorage: { shape: 'call', capability: 'storageCheck' },
} as const satisfies Record<keyof ObjectStore, MethodRow>

export const REF_METHODS = {
  readRef: { shape: 'call' },
  listRefs: { shape: 'call' },
  updateRefs: { shape: 'call' },
  readReflog: { shape: 'call' },
  listReflogs: { shape: 'call' },
  expireReflog: { shape: 'call' },
} as const satisfies Record<keyof RefStore, MethodRow>

/** A sweep session's calls; every one is a plain call naming the session. */
export const SWEEP_METHODS = {
  drain: { shape: 'call' },
  get: { shape: 'call' },
  hold: { shape: 'call' },
  delete: { shape: 'call' },
  end: { shape: 'call' },
} as const satisfies Record<keyof Sweep, MethodRow>

/** The per-machine scratch space, present on a backend declaring `scratch`. */
export const SCRATCH_METHODS = {
  get: { shape: 'call', capability: 'scratch' },
  put: { shape: 'call', capability: 'scratch' },
  delete: { shape: 'call', capability: 'scratch' },
} as const satisfies Record<keyof ScratchStore, MethodRow>

export type Group = 'objects' | 'refs' | 'scratch'
export const GROUPS: Record<Group, Readonly<Record<string, MethodRow>>> = { objects: OBJECT_METHODS, refs: REF_METHODS, scratch: SCRATCH_METHODS }

/**
 * Raised by hand when a method keeps its name but changes what its arguments or answer mean; a
 * change to the table itself changes {@link PROTOCOL} on its own.
 */
const PROTOCOL_REVISION = 1

/**
 * What a follower and its leader must share to talk: the revision and the whole table. Two ckpt
 * builds that differ here (an upgrade while a pipeline holds the store) refuse each other instead
 * of sending calls the other would misread.
 */
export const PROTOCOL = JSON.stringify({ revision: PROTOCOL_REVISION, ...GROUPS, sweep: SWEEP_METHODS })

/** A method seen generically: its arguments and result cross the wire as plain data. */
export type AnyMethod = (...args: unknown[]) => unknown

/** The method `name` of `target`, when it has one. */
export function methodOf(target: object, name: string): AnyMethod | undefined {
  const method = (target as Record<string, unknown>)[name]
  return typeof method === 'function' ? (method as AnyMethod).bind(target) : undefined
}

/** Whether a backend declaring `supports` has the method of `row`. */
export function offered(row: MethodRow, supports: Readonly<Record<Capability, boolean>>): boolean {
  return row.capability === undefined || supports[row.capability]
}

/**
 * One function per plain call of `group` a backend declaring `supports` offers, each handing the
 * backend that should answer it to `route` (a backend that picks where to send each call).
 */
export function forwardCalls(group: Group, supports: BackendSupports, route: <T>(use: (backend: Backend) => Promise<T>) => Promise<T>): Record<string, AnyMethod> {
  const calls: Record<string, AnyMethod> = {}
  for (const [name, row] of Object.entries(GROUPS[group])) {
    if (row.shape !== 'call' || !offered(row, supports)) continue
    calls[name] = (...args) =>
      route(async (backend) => {
        const method = methodOf(backend[group] ?? {}, name)
        if (!method) throw new CkptError('INVALID_ARGUMENT', `${backend.description} offers no ${group}.${name}`)
        return method(...args)
      })
  }
  return calls
}

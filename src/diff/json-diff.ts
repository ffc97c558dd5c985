/**
 * Path-level diff of two JSON-like values, for showing what changed between two stage outputs.
 *
 * Values are plain objects, arrays, strings, numbers, booleans and null, plus opaque leaves
 * (anything that is not a plain object or an array, e.g. a CID or a Uint8Array), which are
 * compared with {@link equalLeaves} and never looked inside.
 *
 * The result uses RFC 6901 JSON Pointers and RFC 6902 operation names, and is ordered so that it
 * is also a valid RFC 6902 patch: applying the changes in order to `from` yields `to` (see
 * {@link diffJson} for how array indices are chosen to make that true).
 */
import { CkptError } from '../errors.js'
import { CID } from '../model/cid.js'
import { matchSequences, type EditLimits, type MatchedRun } from './myers.js'

/** One difference between two values, at an RFC 6901 JSON Pointer `path` ('' is the root). */
export type JsonChange =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'remove'; path: string; oldValue: unknown }
  | { op: 'replace'; path: string; oldValue: unknown; value: unknown }

/** Options for {@link diffJson}. */
export interface DiffJsonOptions {
  /** Stop after this many changes (default: no limit). Useful to show "first N differences" of huge values. */
  maxChanges?: number
}

/**
 * The array alignment searches 2,000 edits (inserted plus removed items) at a time, which bounds
 * its own memory to (2,000 + 1)² integers (16 MB); beyond that it continues from the furthest
 * point reached, so the result stays an alignment but may not be the shortest. After 20 million
 * item comparisons in one array, the rest of it is compared index by index.
 */
const ALIGNMENT_LIMITS: EditLimits = { maxEdits: 2000, maxComparisons: 20_000_000 }

/**
 * The changes that turn `from` into `to`, most specific path first (a changed field inside an
 * object is reported at the field, not as a replace of the whole object).
 *
 * - Equal values give no change. Different kinds (object, array, scalar or opaque leaf) give one
 *   `replace` at that path.
 * - Objects: per key, in sorted key order; a key only in `to` is an `add`, only in `from` a `remove`.
 * - Arrays: items are aligned on deep equality with a longest common subsequence (Myers'
 *   shortest edit script), so inserting or deleting items yields one `add` or `remove` each
 *   rather than a cascade of replaces, at any array length; a moved run is removes plus adds.
 *   Between two aligned runs, leftover items of `from` and `to` are paired by position and
 *   diffed (so an edited element shows as changes inside it, e.g. `/detections/3/score`); the
 *   extra items on either side are removes or adds. Past 2,000 inserted plus removed items the
 *   alignment may not be the shortest, and past 20 million item comparisons the rest of the
 *   array is compared index by index (see `ALIGNMENT_LIMITS`).
 *
 * Array indices, and the order of the changes, follow RFC 6902's rule that each operation applies
 * to the result of the previous ones. Within one array the changes come in three groups:
 *   1. changes inside (or replacing) paired items, ascending, at the item's index in `from`;
 *   2. `remove`s, in DESCENDING order of their index in `from`;
 *   3. `add`s, in ascending order of their index in `to`.
 * So a remove's path names the item's place in `from` and an add's path names its place in `to`,
 * which is how a reader would describe them, and the list still applies as a patch in order.
 *
 * `value` and `oldValue` are the original (not copied) sub-values of `to` and `from`.
 * With `maxChanges`, the first that many changes of the full list are returned.
 */
export function diffJson(from: unknown, to: unknown, options: DiffJsonOptions = {}): JsonChange[] {
  const sink = new ChangeSink(checkMaxChanges(options.maxChanges))
  diffValues(from, to, '', sink)
  return sink.changes
}

/**
 * Whether two opaque leaves are the same value: Uint8Arrays by their bytes, objects with an
 * `equals(other)` method (such as CIDs) by calling it, anything else by `===`.
 */
export function equalLeaves(a: unknown, b: unknown): boolean {
  if (a === b) return true
  // Checked before `equals`, since Buffer.equals throws when handed anything but bytes.
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && equalBytes(a, b)
  }
  if (hasEqualsMethod(a)) return a.equals(b) === true
  return false
}

/** Escapes one JSON Pointer reference token per RFC 6901: '~' becomes '~0', '/' becomes '~1'. */
export function escapePointerToken(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1')
}

/** The RFC 6901 JSON Pointer for a list of object keys and array indices ('' for an empty list). */
export function formatPointer(tokens: readonly (string | number)[]): string {
  return tokens.map((token) => `/${escapePointerToken(String(token))}`).join('')
}

/** Collects changes and says when the caller-given limit is reached, so recursion can stop early. */
class ChangeSink {
  readonly changes: JsonChange[] = []

  constructor(private readonly limit: number) {}

  get full(): boolean {
    return this.changes.length >= this.limit
  }

  push(change: JsonChange): void {
    if (!this.full) this.changes.push(change)
  }
}

function checkMaxChanges(maxChanges: number | undefined): number {
  if (maxChanges === undefined) return Infinity
  const valid = maxChanges === Infinity || (Number.isInteger(maxChanges) && maxChanges >= 0)
  if (!valid) {
    throw new CkptError('INVALID_ARGUMENT', `maxChanges must be a non-negative integer, got ${String(maxChanges)}`, {
      details: { maxChanges },
    })
  }
  return maxChanges
}

/** Which diff strategy a value calls for. */
type Kind = 'object' | 'array' | 'leaf'

function kindOf(value: unknown): Kind {
  if (Array.isArray(value)) return 'array'
  return isPlainObject(value) ? 'object' : 'leaf'
}

/** True for `{…}` literals and null-prototype objects; false for arrays, class instances, typed arrays. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false
  const prototype: unknown = Object.getPrototypeOf(value)
  return prototype === Object.prototype || prototype === null
}

function hasEqualsMethod(value: unknown): value is { equals(other: unknown): unknown } {
  return typeof value === 'object' && value !== null && typeof (value as { equals?: unknown }).equals === 'function'
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Deep structural equality: same kind, same keys or items, leaves equal by {@link equalLeaves}. */
function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  const kind = kindOf(a)
  if (kind !== kindOf(b)) return false
  if (kind === 'array') return equalArrays(a as unknown[], b as unknown[])
  if (kind === 'object') return equalObjects(a as Record<string, unknown>, b as Record<string, unknown>)
  return equalLeaves(a, b)
}

function equalArrays(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((item, i) => deepEqual(item, b[i]))
}

function equalObjects(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const keys = Object.keys(a)
  if (keys.length !== Object.keys(b).length) return false
  return keys.every((key) => Object.hasOwn(b, key) && deepEqual(a[key], b[key]))
}

function childPath(path: string, token: string | number): string {
  return `${path}/${escapePointerToken(String(token))}`
}

function diffValues(from: unknown, to: unknown, path: string, sink: ChangeSink): void {
  if (sink.full) return
  const kind = kindOf(from)
  if (kind !== kindOf(to)) {
    sink.push({ op: 'replace', path, oldValue: from, value: to })
  } else if (kind === 'object') {
    diffObjects(from as Record<string, unknown>, to as Record<string, unknown>, path, sink)
  } else if (kind === 'array') {
    diffArrays(from as unknown[], to as unknown[], path, sink)
  } else if (!equalLeaves(from, to)) {
    sink.push({ op: 'replace', path, oldValue: from, value: to })
  }
}

function diffObjects(from: Record<string, unknown>, to: Record<string, unknown>, path: string, sink: ChangeSink): void {
  const keys = [...new Set([...Object.keys(from), ...Object.keys(to)])].sort()
  for (const key of keys) {
    if (sink.full) return
    const keyPath = childPath(path, key)
    if (!Object.hasOwn(to, key)) sink.push({ op: 'remove', path: keyPath, oldValue: from[key] })
    else if (!Object.hasOwn(from, key)) sink.push({ op: 'add', path: keyPath, value: to[key] })
    else diffValues(from[key], to[key], keyPath, sink)
  }
}

/** How the items of two arrays correspond: see {@link diffJson} for how each group is reported. */
interface ArrayEdit {
  /** [fromIndex, toIndex] of unaligned items that sit at the same place between aligned runs. */
  readonly paired: [number, number][]
  /** Indices in `from` of items with no counterpart in `to`, ascending. */
  readonly removed: number[]
  /** Indices in `to` of items with no counterpart in `from`, ascending. */
  readonly added: number[]
}

function diffArrays(from: readonly unknown[], to: readonly unknown[], path: string, sink: ChangeSink): void {
  const edit = editFromRuns(alignArrays(from, to), from.length, to.length)
  for (const [fromIndex, toIndex] of edit.paired) {
    if (sink.full) return
    diffValues(from[fromIndex], to[toIndex], childPath(path, fromIndex), sink)
  }
  for (let r = edit.removed.length - 1; r >= 0 && !sink.full; r--) {
    const fromIndex = edit.removed[r] as number
    sink.push({ op: 'remove', path: childPath(path, fromIndex), oldValue: from[fromIndex] })
  }
  for (const toIndex of edit.added) {
    if (sink.full) return
    sink.push({ op: 'add', path: childPath(path, toIndex), value: to[toIndex] })
  }
}

/**
 * Turns the aligned runs of deeply equal items into an {@link ArrayEdit}: in each gap between
 * consecutive runs, the gap's items are paired by position and the surplus on the longer side
 * becomes removes or adds.
 */
function editFromRuns(runs: readonly MatchedRun[], fromLength: number, toLength: number): ArrayEdit {
  const edit: ArrayEdit = { paired: [], removed: [], added: [] }
  let fromIndex = 0
  let toIndex = 0
  for (const run of [...runs, { from: fromLength, to: toLength, length: 0 }]) {
    const pairCount = Math.min(run.from - fromIndex, run.to - toIndex)
    for (let k = 0; k < pairCount; k++) edit.paired.push([fromIndex + k, toIndex + k])
    for (let i = fromIndex + pairCount; i < run.from; i++) edit.removed.push(i)
    for (let j = toIndex + pairCount; j < run.to; j++) edit.added.push(j)
    fromIndex = run.from + run.length
    toIndex = run.to + run.length
  }
  return edit
}

/**
 * Runs of deeply equal items, ascending in both arrays, forming a common subsequence (a longest
 * one within `ALIGNMENT_LIMITS`). The common head and tail are matched directly; the middle is
 * aligned by Myers' algorithm over item fingerprints.
 */
function alignArrays(from: readonly unknown[], to: readonly unknown[]): MatchedRun[] {
  let head = 0
  while (head < from.length && head < to.length && deepEqual(from[head], to[head])) head++
  let tail = 0
  while (
    tail < from.length - head &&
    tail < to.length - head &&
    deepEqual(from[from.length - 1 - tail], to[to.length - 1 - tail])
  ) {
    tail++
  }
  const fromEnd = from.length - tail
  const toEnd = to.length - tail
  const fromPrints = fingerprints(from, head, fromEnd)
  const toPrints = fingerprints(to, head, toEnd)
  const equal = (i: number, j: number): boolean => fromPrints[i] === toPrints[j] && deepEqual(from[head + i], to[head + j])
  const middle = matchSequences(fromEnd - head, toEnd - head, equal, ALIGNMENT_LIMITS)
  const runs: MatchedRun[] = []
  if (head > 0) runs.push({ from: 0, to: 0, length: head })
  for (const run of middle) runs.push({ from: head + run.from, to: head + run.to, length: run.length })
  if (tail > 0) runs.push({ from: fromEnd, to: toEnd, length: tail })
  return runs
}

function fingerprints(items: readonly unknown[], start: number, end: number): Int32Array {
  const prints = new Int32Array(Math.max(0, end - start))
  for (let i = start; i < end; i++) prints[i - start] = fingerprint(items[i])
  return prints
}

/**
 * A 32-bit hash that is equal for deeply equal values (the converse need not hold). Object entries
 * are combined by addition so key order does not matter. CIDs hash by their bytes; other leaves
 * compared by an `equals` method cannot be hashed consistently and all share one fingerprint.
 */
function fingerprint(value: unknown): number {
  switch (kindOf(value)) {
    case 'array':
      return (value as unknown[]).reduce<number>((hash, item) => mix(hash, fingerprint(item)), hashString('['))
    case 'object':
      return Object.entries(value as Record<string, unknown>).reduce<number>(
        (sum, [key, item]) => (sum + mix(hashString(key), fingerprint(item))) | 0,
        hashString('{'),
      )
    default:
      return leafFingerprint(value)
  }
}

function leafFingerprint(value: unknown): number {
  if (value instanceof Uint8Array) return value.reduce((hash, byte) => mix(hash, byte), hashString('bytes'))
  const cid = CID.asCID(value)
  if (cid) return cid.bytes.reduce((hash, byte) => mix(hash, byte), hashString('cid'))
  if (hasEqualsMethod(value)) return hashString('opaque')
  // String() maps 0 and -0 alike, matching ===; the type tag keeps 1 and '1' apart.
  return hashString(`${typeof value}:${String(value)}`)
}

function hashString(text: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) hash = mix(hash, text.charCodeAt(i))
  return hash
}

/** One FNV-1a style step: folds `value` into `hash`. */
function mix(hash: number, value: number): number {
  return Math.imul(hash ^ value, 0x01000193)
}

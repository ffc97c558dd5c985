import { CkptError, quoted } from '../errors.js'
import { CID, DAG_JSON_CODE, cidOf } from './cid.js'
import { blake3 } from './hash.js'
import { encodeNode } from './value.js'

/**
 * Directory outputs are stored as a prolly tree: the files sorted by path, cut into nodes at
 * boundaries chosen by a hash of the path alone, so the shape depends only on which paths
 * exist. Equal directories give equal trees, and changing one file rewrites only its leaf and
 * the nodes above it, O(log n) of them (docs/format.md).
 */

/** One file of a directory output. */
export interface TreeEntry {
  /** Relative path with `/` separators, no `.`/`..` components. */
  readonly path: string
  readonly cid: CID
  readonly size: number
}

/** A node with its CID and encoded bytes. */
export interface TreeBlock {
  readonly cid: CID
  readonly bytes: Uint8Array
}

/** On average one node boundary every 2^5 = 32 entries. */
const BOUNDARY_BITS = 5
const BOUNDARY_MASK = (1 << BOUNDARY_BITS) - 1
const MAX_PATH_BYTES = 4096
const encoder = new TextEncoder()

/** Rejects a path that could escape the directory it is written into, or is not portable text. */
export function checkTreePath(path: string): void {
  const bad = (why: string): never => {
    throw new CkptError('INVALID_OUTPUT', `directory entry ${quoted(path)}: ${why}`, { details: { path } })
  }
  if (typeof path !== 'string' || path === '') bad('empty path')
  if (!path.isWellFormed()) bad('not well-formed Unicode')
  // A UTF-16 code unit is at most 3 bytes of UTF-8, so most paths need no encoding to measure.
  if (path.length * 3 > MAX_PATH_BYTES && encoder.encode(path).length > MAX_PATH_BYTES) bad(`longer than ${MAX_PATH_BYTES} bytes`)
  if (/[\u0000-\u001f\u007f\\]/.test(path)) bad('control characters and backslashes are not allowed')
  if (path.startsWith('/')) bad('absolute paths are not allowed')
  for (const part of path.split('/')) {
    if (part === '' || part === '.' || part === '..') bad(`the component "${part}" is not allowed`)
  }
}

/** Builds the tree of `entries` (any order; paths must be unique). Returns the root CID and every node. */
export function buildTree(entries: readonly TreeEntry[]): { root: CID; blocks: TreeBlock[] } {
  const sorted = [...entries].sort((a, b) => compareUtf8(a.path, b.path))
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]?.path === sorted[i - 1]?.path) throw new CkptError('INVALID_OUTPUT', `directory entry ${quoted(sorted[i]?.path)} appears twice`)
  }
  sorted.forEach((e) => checkTreePath(e.path))
  const blocks: TreeBlock[] = []
  const emit = (node: unknown): CID => {
    const bytes = encodeNode(node)
    const cid = cidOf(DAG_JSON_CODE, bytes)
    blocks.push({ cid, bytes })
    return cid
  }
  type Child = { first: string; cid: CID; files: number; size: number }
  let level: Child[] = chunk(sorted, 0, (e) => e.path).map((group) => ({
    first: group[0]?.path ?? '',
    cid: emit({ tree: 'leaf', entries: group.map((e) => [e.path, e.cid, e.size]) }),
    files: group.length,
    size: group.reduce((sum, e) => sum + e.size, 0),
  }))
  for (let depth = 1; level.length > 1; depth++) {
    level = chunk(level, depth, (c) => c.first).map((group) => ({
      first: group[0]?.first ?? '',
      cid: emit({ tree: 'node', children: group.map((c) => [c.first, c.cid, c.files, c.size]) }),
      files: group.reduce((sum, c) => sum + c.files, 0),
      size: group.reduce((sum, c) => sum + c.size, 0),
    }))
  }
  return { root: (level[0] as Child).cid, blocks }
}

/** Cuts a sorted list after every item whose key hashes (with the level mixed in) to a boundary. */
function chunk<T>(items: readonly T[], depth: number, key: (item: T) => string): T[][] {
  if (items.length === 0) return [[]]
  const groups: T[][] = []
  let current: T[] = []
  for (const item of items) {
    current.push(item)
    const digest = blake3(encoder.encode(`${depth}\u0000${key(item)}`))
    if (((digest[0] as number) & BOUNDARY_MASK) === 0) {
      groups.push(current)
      current = []
    }
  }
  if (current.length > 0) groups.push(current)
  return groups
}

/** Reads every entry of the tree at `root`, in path order. `load` returns a verified, decoded node. */
export async function readTree(root: CID, load: (cid: CID) => Promise<unknown>): Promise<TreeEntry[]> {
  const out: TreeEntry[] = []
  for await (const entry of treeEntries(root, load)) out.push(entry)
  return out
}

/** Every entry of the tree at `root`, in path order, holding one path of nodes at a time. */
export async function* treeEntries(root: CID, load: (cid: CID) => Promise<unknown>): AsyncGenerator<TreeEntry> {
  for await (const leaf of treeLeaves(root, load)) yield* leaf
}

/** The entries of the tree at `root` a leaf at a time (about 32 entries), in path order: for readers that work in batches. */
export async function* treeLeaves(root: CID, load: (cid: CID) => Promise<unknown>): AsyncGenerator<TreeEntry[]> {
  const visit = async function* (cid: CID, depth: number): AsyncGenerator<TreeEntry[]> {
    if (depth > 64) throw corrupt(cid, 'is nested too deeply')
    const node = (await load(cid)) as { tree?: unknown; entries?: unknown; children?: unknown }
    if (node?.tree === 'leaf' && Array.isArray(node.entries)) {
      yield node.entries.map((entry: unknown) => leafEntry(cid, entry))
    } else if (node?.tree === 'node' && Array.isArray(node.children)) {
      for (const child of node.children) {
        const link = Array.isArray(child) ? CID.asCID(child[1]) : null
        if (!link) throw corrupt(cid, 'has a malformed child')
        yield* visit(link, depth + 1)
      }
    } else {
      throw corrupt(cid, 'is not a directory tree node')
    }
  }
  yield* visit(root, 0)
}

/**
 * Checks a decoded node that claims to be part of a directory tree: every leaf entry must be
 * well-formed and a safe relative path, as {@link buildTree} requires of what it writes.
 * CORRUPT_OBJECT otherwise. Other nodes are left to their own decoders.
 */
export function checkTreeNode(cid: CID, node: unknown): void {
  const value = node as { tree?: unknown; entries?: unknown }
  if (value?.tree !== 'leaf') return
  if (!Array.isArray(value.entries)) throw corrupt(cid, 'has malformed entries')
  for (const entry of value.entries) leafEntry(cid, entry)
}

/** Total file count and size from the root node alone. */
export function treeSummary(rootNode: unknown): { files: number; size: number } | undefined {
  const node = rootNode as { tree?: unknown; entries?: unknown[]; children?: unknown[] }
  if (node?.tree === 'leaf' && Array.isArray(node.entries)) {
    return { files: node.entries.length, size: node.entries.reduce<number>((s, e) => s + (Array.isArray(e) ? Number(e[2]) : 0), 0) }
  }
  if (node?.tree === 'node' && Array.isArray(node.children)) {
    return node.children.reduce<{ files: number; size: number }>(
      (acc, c) => (Array.isArray(c) ? { files: acc.files + Number(c[2]), size: acc.size + Number(c[3]) } : acc),
      { files: 0, size: 0 },
    )
  }
  return undefined
}

function leafEntry(leaf: CID, entry: unknown): TreeEntry {
  if (!Array.isArray(entry) || typeof entry[0] !== 'string' || CID.asCID(entry[1]) === null || typeof entry[2] !== 'number') {
    throw corrupt(leaf, 'has a malformed entry')
  }
  try {
    checkTreePath(entry[0])
  } catch (err) {
    throw corrupt(leaf, `has an unsafe entry: ${err instanceof CkptError ? err.message : String(err)}`)
  }
  return { path: entry[0], cid: CID.asCID(entry[1]) as CID, size: entry[2] }
}

function corrupt(cid: CID, what: string): CkptError {
  return new CkptError('CORRUPT_OBJECT', `directory tree node ${cid.toString()} ${what}`, { details: { id: cid.toString() } })
}

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}

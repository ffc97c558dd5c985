import type { StoreContext } from '../../core/context.js'
import { walkLog } from '../../core/log.js'
import { makeBlock, type Block } from '../../core/block.js'
import { CkptError } from '../../errors.js'
import { type CID, DAG_JSON_CODE, cidOf, cidString, digestHex } from '../../model/cid.js'
import { decodeCheckpoint } from '../../model/checkpoint.js'
import { linksIn } from '../../model/dag-json.js'
import { blake3 } from '../../model/hash.js'
import { checkRefName } from '../../refs/names.js'
import { timelineRef } from '../../refs/refdb.js'
import { moveRef, type ImportResult } from '../car.js'
import { checkClosure, refHeads } from '../closure.js'
import { HIDDEN_FOLDER, NODE_FILE, compactJson } from './format.js'
import { GitRepo } from './repo.js'

/** What `import --git` did. */
export interface GitImportResult {
  readonly timeline: string
  /** The checkpoint the timeline now names. */
  readonly head: string
  /** Commits read from the mirror (those beyond what the timeline already had). */
  readonly commits: number
  /** Objects the store lacked and stored. */
  readonly written: number
  readonly action: ImportResult['refs'][number]['action']
}

export interface GitImportOptions {
  /** The timeline to create or fast-forward; the branch's name when absent. */
  readonly timeline?: string
  /** Move the timeline even when not a fast-forward (the old head stays in the reflog). */
  readonly force?: boolean
  readonly onProgress?: (done: number, total: number) => void
}

interface MirrorCommit {
  readonly oid: string
  readonly parents: readonly string[]
  readonly tree: TreeObject
  readonly id: CID
  readonly nodeBytes: Uint8Array
}

type TreeObject = ReadonlyArray<{ readonly path: string; readonly oid: string; readonly type: string }>

const BATCH_BYTES = 8 * 1024 * 1024
const KEEP_SCANNED_BYTES = 1024 * 1024

/**
 * Reads a branch of a mirror written by `export --git` back into checkpoints. Objects are found by
 * content, not by file name: every file of a commit is hashed (JSON files also without the
 * whitespace the mirror added), and each object of the checkpoint's closure must be among them or
 * already stored. So the ids come out identical, and an edited file is reported, never imported.
 */
export async function importGit(ctx: StoreContext, dir: string, branch: string, options: GitImportOptions = {}): Promise<GitImportResult> {
  const repo = await GitRepo.open(dir, { create: false })
  const timeline = options.timeline ?? branch.replace(/^refs\/heads\//, '')
  checkRefName(timeline, 'timeline name')
  const reader = new MirrorReader(ctx, repo)
  const head = await reader.commit(await resolveCommit(repo, branch), branch)
  const order = await reader.beyond(head)
  for (const [i, commit] of order.entries()) {
    await reader.importCommit(commit)
    options.onProgress?.(i + 1, order.length)
  }
  await reader.finish()
  await checkClosure(ctx, [head.id], await refHeads(ctx))
  const action = await moveRef(ctx, timelineRef(timeline), head.id, options.force === true, 'import --git')
  return { timeline, head: cidString(head.id), commits: order.length, written: reader.written, action }
}

async function resolveCommit(repo: GitRepo, rev: string): Promise<string> {
  try {
    return await repo.git.resolveRef({ ...repo.at, ref: rev })
  } catch {
    try {
      if (/^[0-9a-f]{4,40}$/.test(rev)) return await repo.git.expandOid({ ...repo.at, oid: rev })
    } catch {
      // reported below
    }
  }
  throw new CkptError('NOT_FOUND', `no branch or commit ${JSON.stringify(rev)} in ${repo.gitdir}`, { details: { ref: rev } })
}

/** Reads mirror commits and stores their checkpoints, each object once. */
class MirrorReader {
  written = 0
  /** Content digest (hex) → the git blob holding it, as is or compacted JSON. */
  readonly #pool = new Map<string, { oid: string; compact: boolean }>()
  readonly #scannedTrees = new Set<string>()
  readonly #scannedBlobs = new Set<string>()
  readonly #done = new Set<string>()
  readonly #cuts: string[] = []
  #reached: Set<string> | undefined
  readonly #trees = new Map<string, TreeObject>()
  /** Small files hashed for the commit being imported: most are stored right after. */
  readonly #justScanned = new Map<string, Uint8Array>()
  /** isomorphic-git's cache of pack indexes, for mirrors that git has packed. */
  readonly #gitCache = {}
  #batch: Block[] = []
  #batchBytes = 0

  constructor(
    private readonly ctx: StoreContext,
    private readonly repo: GitRepo,
  ) {}

  /** A mirror commit with its checkpoint node; INVALID_ARGUMENT for a commit ckpt did not write. `from` names where it was reached from. */
  async commit(oid: string, from: string): Promise<MirrorCommit> {
    const { git, at } = this.repo
    const { commit } = await this.#read(oid, 'commit', () => git.readCommit({ ...at, oid, cache: this.#gitCache }))
    const notMirror = () =>
      new CkptError('INVALID_ARGUMENT', `commit ${oid} (in the history of ${from}) was not written by \`ckpt export --git\` (it has no ${HIDDEN_FOLDER}/${NODE_FILE})`, {
        details: { commit: oid },
      })
    const tree = await this.#readTree(commit.tree)
    const hidden = tree.find((e) => e.path === HIDDEN_FOLDER && e.type === 'tree')
    if (!hidden) throw notMirror()
    const nodeEntry = (await this.#readTree(hidden.oid)).find((e) => e.path === NODE_FILE && e.type === 'blob')
    if (!nodeEntry) throw notMirror()
    const nodeBytes = await this.#blob(nodeEntry.oid)
    return { oid, parents: commit.parent, tree, id: cidOf(DAG_JSON_CODE, nodeBytes), nodeBytes }
  }

  /** The commits of `head`'s history whose checkpoints the store's refs do not already reach, parents first. */
  async beyond(head: MirrorCommit): Promise<MirrorCommit[]> {
    const order: MirrorCommit[] = []
    const visited = new Set<string>()
    const stack: Array<{ commit: MirrorCommit; expanded: boolean }> = [{ commit: head, expanded: false }]
    while (stack.length > 0) {
      const { commit, expanded } = stack.pop()!
      if (expanded) {
        order.push(commit)
        continue
      }
      if (visited.has(commit.oid) || (await this.#reachable(commit.id))) continue
      visited.add(commit.oid)
      stack.push({ commit, expanded: true })
      const parents = []
      for (const oid of commit.parents) parents.push(await this.commit(oid, `commit ${commit.oid}`))
      if (parents.some((p) => p.id.equals(commit.id))) {
        throw new CkptError('INVALID_ARGUMENT', `commit ${commit.oid} records its parent's checkpoint again: it was made by hand on the mirror, not by \`ckpt export --git\``, {
          details: { commit: commit.oid },
        })
      }
      for (const parent of parents.reverse()) stack.push({ commit: parent, expanded: false })
    }
    return order
  }

  /**
   * Whether the store's refs reach checkpoint `id`, so it and its history are stored whole. The
   * refs' histories are read only once a mirror commit names a checkpoint the store holds.
   */
  async #reachable(id: CID): Promise<boolean> {
    if (!(await this.ctx.objects.has(id))) return false
    if (!this.#reached) {
      const reached = new Set<string>()
      for await (const checkpoint of walkLog(this.ctx, await refHeads(this.ctx))) reached.add(checkpoint.id)
      this.#reached = reached
    }
    return this.#reached.has(cidString(id))
  }

  /** Stores one commit's checkpoint after everything its outputs link to. */
  async importCommit(commit: MirrorCommit): Promise<void> {
    await this.#scanEntries(commit.tree)
    const node = decodeCheckpoint(commit.id, commit.nodeBytes)
    for (const output of node.stages.values()) await this.#need(output, commit)
    for (const parent of node.parents) {
      // A parent the mirror does not carry was dropped at a retention cut when it was written.
      if (!this.#done.has(cidString(parent)) && !(await this.ctx.objects.has(parent))) this.#cuts.push(cidString(commit.id))
    }
    this.#done.add(cidString(commit.id))
    this.#justScanned.clear()
    await this.#store(makeBlock(DAG_JSON_CODE, commit.nodeBytes))
  }

  async finish(): Promise<void> {
    await this.#flush(false)
    for (const id of new Set(this.#cuts)) await this.ctx.refs.addCut(id, 'import --git: history cut in the mirror')
  }

  /** Makes sure `cid` and its closure are stored, from the mirror's files or the store itself. */
  async #need(cid: CID, commit: MirrorCommit): Promise<void> {
    const key = cidString(cid)
    if (this.#done.has(key)) return
    this.#done.add(key)
    const found = this.#pool.get(digestHex(cid))
    let bytes: Uint8Array | undefined
    if (found) {
      bytes = await this.#pooled(found)
      await this.#store({ cid, bytes })
    } else if (!(await this.ctx.objects.has(cid))) {
      throw new CkptError('CORRUPT_OBJECT', `commit ${commit.oid} of the mirror lacks object ${key}, which checkpoint ${cidString(commit.id)} needs (was a file edited?)`, {
        details: { commit: commit.oid, id: key },
      })
    }
    if (cid.code !== DAG_JSON_CODE) return
    for (const link of linksIn(bytes ?? (await this.ctx.objects.getBytes(cid)))) await this.#need(link, commit)
  }

  async #pooled(found: { oid: string; compact: boolean }): Promise<Uint8Array> {
    const blob = this.#justScanned.get(found.oid) ?? (await this.#blob(found.oid))
    return found.compact ? (compactJson(blob) as Uint8Array) : blob
  }

  /** Hashes every file of a tree not seen before, so objects can be found by content. */
  async #scanTree(oid: string): Promise<void> {
    if (this.#scannedTrees.has(oid)) return
    this.#scannedTrees.add(oid)
    await this.#scanEntries(await this.#readTree(oid))
  }

  async #scanEntries(tree: TreeObject): Promise<void> {
    for (const entry of tree) {
      if (entry.type === 'tree') await this.#scanTree(entry.oid)
      else if (entry.type === 'blob' && !this.#scannedBlobs.has(entry.oid)) {
        this.#scannedBlobs.add(entry.oid)
        const blob = await this.#blob(entry.oid)
        if (blob.length <= KEEP_SCANNED_BYTES) this.#justScanned.set(entry.oid, blob)
        this.#pool.set(Buffer.from(blake3(blob)).toString('hex'), { oid: entry.oid, compact: false })
        const compact = entry.path.includes('.json') ? compactJson(blob) : undefined
        if (compact) this.#pool.set(Buffer.from(blake3(compact)).toString('hex'), { oid: entry.oid, compact: true })
      }
    }
  }

  /** A tree's entries; the hidden folder's tree is read twice per commit, so the last few are kept. */
  async #readTree(oid: string): Promise<TreeObject> {
    const cached = this.#trees.get(oid)
    if (cached) return cached
    const { tree } = await this.#read(oid, 'tree', () => this.repo.git.readTree({ ...this.repo.at, oid, cache: this.#gitCache }))
    if (this.#trees.size >= 64) this.#trees.delete(this.#trees.keys().next().value as string)
    this.#trees.set(oid, tree)
    return tree
  }

  async #blob(oid: string): Promise<Uint8Array> {
    return (await this.#read(oid, 'blob', () => this.repo.git.readBlob({ ...this.repo.at, oid, cache: this.#gitCache }))).blob
  }

  /** A git read, its failure (a missing, damaged or mistyped object) as CORRUPT_OBJECT naming the object. */
  async #read<T>(oid: string, kind: string, read: () => Promise<T>): Promise<T> {
    try {
      return await read()
    } catch (cause) {
      throw new CkptError('CORRUPT_OBJECT', `the mirror's ${kind} ${oid} cannot be read: ${(cause as Error).message}`, { cause, details: { object: oid } })
    }
  }

  async #store(block: Block): Promise<void> {
    if (await this.ctx.objects.has(block.cid)) return
    this.#batch.push(block)
    this.#batchBytes += block.bytes.length
    this.written++
    if (this.#batchBytes >= BATCH_BYTES) await this.#flush(true)
  }

  async #flush(deferSync: boolean): Promise<void> {
    if (this.#batch.length > 0) await this.ctx.objects.putBlocks(this.#batch, { deferSync })
    this.#batch = []
    this.#batchBytes = 0
  }
}

import type { StoreContext } from '../../core/context.js'
import { outputKind } from '../../core/context.js'
import { decodeStoredNode } from '../../core/objects.js'
import { CkptError } from '../../errors.js'
import { CID, DAG_JSON_CODE, cidString } from '../../model/cid.js'
import { linksIn } from '../../model/dag-json.js'
import { readTree } from '../../model/tree.js'
import { TAG_PREFIX, TIMELINE_PREFIX, timelineRef } from '../../refs/refdb.js'
import { HIDDEN_FOLDER, NODE_FILE, TreeNames, commitMessage, gitIdent, prettyJson } from './format.js'
import { GitRepo } from './repo.js'

/** What `export --git` did. */
export interface GitExportResult {
  /** The git directory written. */
  readonly gitdir: string
  /** Checkpoints written as new commits; the rest were in the mirror already. */
  readonly written: number
  readonly branches: ReadonlyArray<{ readonly name: string; readonly commit: string; readonly checkpoint: string }>
  readonly tags: ReadonlyArray<{ readonly name: string; readonly commit: string; readonly checkpoint: string }>
}

export interface GitExportOptions {
  /** Timelines to mirror; all timelines and tags when absent. */
  readonly timelines?: readonly string[]
  /** Called after each commit written, with how many of how many. */
  readonly onProgress?: (done: number, total: number) => void
}

interface TreeEntry {
  readonly mode: '100644' | '040000'
  readonly path: string
  readonly oid: string
  readonly type: 'blob' | 'tree'
}

/** A stage output as git objects: its visible entry, and the hidden blocks needed to rebuild it. */
interface GitOutput {
  readonly oid: string
  readonly type: 'blob' | 'tree'
  readonly hidden: ReadonlyMap<string, string>
}

/** How many commits are written between saves of the checkpoint → commit map. */
const MAP_SAVE_EVERY = 500

/**
 * Writes timelines into a git repository as commits, one per checkpoint (docs/sync.md). Commit
 * ids depend only on the checkpoints, so a rerun writes only what is new, and two stores holding
 * the same checkpoints write the same commits.
 */
export async function exportGit(ctx: StoreContext, dir: string, options: GitExportOptions = {}): Promise<GitExportResult> {
  const { timelines, tags, heads } = await selectRefs(ctx, options.timelines)
  checkRefPaths(timelines.map((t) => t.name), 'timelines')
  checkRefPaths(tags.map((t) => t.name), 'tags')
  const repo = await GitRepo.open(dir, { create: true })
  const mirror = new Mirror(ctx, repo, await repo.readMap())
  const order = await mirror.unwritten(heads)
  let pending: Array<[string, string]> = []
  for (const [i, cid] of order.entries()) {
    pending.push([cidString(cid), await mirror.writeCommit(cid)])
    if (pending.length >= MAP_SAVE_EVERY) {
      await repo.appendMap(pending)
      pending = []
    }
    options.onProgress?.(i + 1, order.length)
  }
  await repo.appendMap(pending)

  const written = async (refs: ReadonlyArray<{ name: string; id: CID }>) => {
    const found = []
    for (const { name, id } of refs) {
      const commit = mirror.commitOf(id)
      if (commit !== undefined && (await repo.has(commit))) found.push({ name, commit, checkpoint: cidString(id) })
    }
    return found
  }
  const branches = await written(timelines)
  const tagged = await written(tags)
  for (const { name, commit } of branches) await writeRef(repo, `refs/heads/${name}`, commit)
  for (const { name, commit } of tagged) await writeRef(repo, `refs/tags/${name}`, commit)
  if (repo.created && branches.length > 0) {
    const head = await ctx.refs.head()
    const current = head?.target.kind === 'timeline' ? head.target.timeline : undefined
    const branch = branches.find((b) => b.name === current) ?? branches[0]
    await repo.git.writeRef({ ...repo.at, ref: 'HEAD', value: `refs/heads/${branch?.name}`, symbolic: true, force: true })
  }
  return { gitdir: repo.gitdir, written: order.length, branches, tags: tagged }
}

interface Selection {
  readonly timelines: Array<{ name: string; id: CID }>
  readonly tags: Array<{ name: string; id: CID }>
  /** The checkpoints whose histories are written. */
  readonly heads: CID[]
}

/**
 * The named timelines, or every timeline and tag when none are named. Tags are written when
 * their checkpoint is in the mirror, so named timelines carry the tags on their histories.
 */
async function selectRefs(ctx: StoreContext, names: readonly string[] | undefined): Promise<Selection> {
  const tags = await ctx.refs.list(TAG_PREFIX)
  if (names === undefined || names.length === 0) {
    const timelines = await ctx.refs.list(TIMELINE_PREFIX)
    return { timelines, tags, heads: [...timelines, ...tags].map((r) => r.id) }
  }
  const timelines = []
  for (const name of names) {
    const id = await ctx.refs.readCid(timelineRef(name))
    if (!id) throw new CkptError('NOT_FOUND', `no timeline named ${JSON.stringify(name)}`, { details: { timeline: name } })
    timelines.push({ name, id })
  }
  return { timelines, tags, heads: timelines.map((t) => t.id) }
}

/**
 * Git keeps refs as files, so `a` and `a/b` cannot both be branches. Refused before anything is
 * written, naming the pair.
 */
function checkRefPaths(names: readonly string[], what: string): void {
  const all = new Set(names)
  for (const name of names) {
    const parts = name.split('/')
    for (let i = 1; i < parts.length; i++) {
      const folder = parts.slice(0, i).join('/')
      if (!all.has(folder)) continue
      throw new CkptError('INVALID_ARGUMENT', `${what} ${JSON.stringify(folder)} and ${JSON.stringify(name)} cannot both be git refs (git keeps refs as files and folders); export them to separate mirrors`, {
        details: { names: [folder, name] },
      })
    }
  }
}

async function writeRef(repo: GitRepo, ref: string, oid: string): Promise<void> {
  try {
    await repo.git.writeRef({ ...repo.at, ref, value: oid, force: true })
  } catch (cause) {
    throw new CkptError('INVALID_ARGUMENT', `cannot write git ref ${ref}: ${(cause as Error).message}`, { cause, details: { ref } })
  }
}

/** Converts checkpoints to git objects, remembering what it wrote so each output is converted once. */
class Mirror {
  readonly #outputs = new Map<string, GitOutput>()
  readonly #blobs = new Map<string, string>()
  readonly #cuts: Promise<Set<string>>

  constructor(
    private readonly ctx: StoreContext,
    private readonly repo: GitRepo,
    private readonly commits: Map<string, string>,
  ) {
    this.#cuts = ctx.refs.cuts()
  }

  commitOf(id: CID): string | undefined {
    return this.commits.get(cidString(id))
  }

  /** The checkpoints of `heads`' histories that have no commit in the mirror, parents first. */
  async unwritten(heads: readonly CID[]): Promise<CID[]> {
    const order: CID[] = []
    const visited = new Set<string>()
    const stack: Array<{ cid: CID; expanded: boolean }> = heads.map((cid) => ({ cid, expanded: false })).reverse()
    while (stack.length > 0) {
      const top = stack.pop()!
      const key = cidString(top.cid)
      if (top.expanded) {
        order.push(top.cid)
        continue
      }
      if (visited.has(key)) continue
      visited.add(key)
      const known = this.commits.get(key)
      if (known !== undefined && (await this.repo.has(known))) continue
      this.commits.delete(key)
      stack.push({ cid: top.cid, expanded: true })
      for (const parent of [...(await this.#parents(top.cid))].reverse()) stack.push({ cid: parent, expanded: false })
    }
    return order
  }

  /** Parents still in the store: those dropped at a retention cut have no commit. */
  async #parents(cid: CID): Promise<CID[]> {
    const node = await this.ctx.loadCheckpoint(cid)
    if (!(await this.#cuts).has(cidString(cid))) return [...node.parents]
    const present = await Promise.all(node.parents.map((p) => this.ctx.objects.has(p)))
    return node.parents.filter((_, i) => present[i])
  }

  async writeCommit(cid: CID): Promise<string> {
    const node = await this.ctx.loadCheckpoint(cid)
    const id = cidString(cid)
    const { git } = this.repo
    const hidden = new Map<string, string>([[NODE_FILE, await this.#blob(await this.ctx.objects.getBytes(cid))]])
    const names = new TreeNames([HIDDEN_FOLDER])
    const entries: TreeEntry[] = []
    for (const [stage, output] of node.stages) {
      const kind = outputKind(node, stage, output)
      const converted = await this.#output(output, kind)
      for (const [name, oid] of converted.hidden) hidden.set(name, oid)
      const path = names.claim(kind === 'json' ? `${stage}.json` : stage)
      entries.push({ mode: converted.type === 'tree' ? '040000' : '100644', path, oid: converted.oid, type: converted.type })
    }
    entries.push({ mode: '040000', path: HIDDEN_FOLDER, oid: await this.#tree([...hidden].map(([path, oid]) => file(path, oid))), type: 'tree' })
    const parents = (await this.#parents(cid)).map((p) => {
      const commit = this.commitOf(p)
      if (commit === undefined) throw new CkptError('NOT_FOUND', `checkpoint ${cidString(p)} has no commit in the mirror`, { details: { id: cidString(p) } })
      return commit
    })
    const ident = gitIdent(node.author, node.time)
    const oid = await git.writeCommit({
      ...this.repo.at,
      commit: { message: commitMessage(id, node), tree: await this.#tree(entries), parent: parents, author: ident, committer: ident },
    })
    this.commits.set(id, oid)
    return oid
  }

  async #output(cid: CID, kind: 'json' | 'bytes' | 'tree'): Promise<GitOutput> {
    const key = cidString(cid)
    const cached = this.#outputs.get(key)
    if (cached) return cached
    let converted: GitOutput
    if (kind === 'bytes') {
      converted = { oid: await this.#blob(await this.ctx.objects.getBytes(cid)), type: 'blob', hidden: new Map() }
    } else if (kind === 'json') {
      const bytes = await this.ctx.objects.getBytes(cid)
      const hidden = new Map<string, string>()
      for (const link of linksIn(bytes)) await this.#hide(link, hidden)
      converted = { oid: await this.#blob(prettyJson(bytes)), type: 'blob', hidden }
    } else {
      converted = await this.#directory(cid)
    }
    this.#outputs.set(key, converted)
    return converted
  }

  /** A directory output as nested git trees; its tree nodes go hidden, its files are the visible blobs. */
  async #directory(root: CID): Promise<GitOutput> {
    const hidden = new Map<string, string>()
    const files = await readTree(root, async (cid) => {
      // getBytes verified the bytes against their id: decode them, rather than read them again.
      const bytes = await this.ctx.objects.getBytes(cid)
      hidden.set(cidString(cid), await this.#blob(bytes))
      return decodeStoredNode(cid, bytes)
    })
    interface Folder { files: Map<string, CID>; folders: Map<string, Folder> }
    const top: Folder = { files: new Map(), folders: new Map() }
    for (const entry of files) {
      const parts = entry.path.split('/')
      let folder = top
      for (const part of parts.slice(0, -1)) {
        let next = folder.folders.get(part)
        if (!next) folder.folders.set(part, (next = { files: new Map(), folders: new Map() }))
        folder = next
      }
      folder.files.set(parts.at(-1) as string, entry.cid)
    }
    const write = async (folder: Folder): Promise<string> => {
      const names = new TreeNames()
      const entries: TreeEntry[] = []
      for (const [name, sub] of folder.folders) entries.push({ mode: '040000', path: names.claim(name), oid: await write(sub), type: 'tree' })
      for (const [name, cid] of folder.files) entries.push(file(names.claim(name), await this.#rawBlob(cid)))
      return this.#tree(entries)
    }
    return { oid: await write(top), type: 'tree', hidden }
  }

  /** Adds `cid` and what it links to, as hidden files named by id. */
  async #hide(cid: CID, hidden: Map<string, string>): Promise<void> {
    const key = cidString(cid)
    if (hidden.has(key)) return
    if (cid.code !== DAG_JSON_CODE) {
      hidden.set(key, await this.#rawBlob(cid))
      return
    }
    const bytes = await this.ctx.objects.getBytes(cid)
    hidden.set(key, await this.#blob(bytes))
    for (const link of linksIn(bytes)) await this.#hide(link, hidden)
  }

  /** The git blob of a stored object's bytes, written once per run. */
  async #rawBlob(cid: CID): Promise<string> {
    const key = cidString(cid)
    const known = this.#blobs.get(key)
    if (known !== undefined) return known
    const oid = await this.#blob(await this.ctx.objects.getBytes(cid))
    this.#blobs.set(key, oid)
    return oid
  }

  #blob(bytes: Uint8Array): Promise<string> {
    return this.repo.git.writeBlob({ ...this.repo.at, blob: bytes })
  }

  #tree(entries: TreeEntry[]): Promise<string> {
    return this.repo.git.writeTree({ ...this.repo.at, tree: entries })
  }
}

function file(path: string, oid: string): TreeEntry {
  return { mode: '100644', path, oid, type: 'blob' }
}

import { CkptError } from '../errors.js'
import { CID, DAG_JSON_CODE, cidString, digestHex, keyRangeForDigestPrefix, tryParseCid } from '../model/cid.js'
import type { CheckpointNode } from '../model/checkpoint.js'
import { isValidRefName } from './names.js'
import { HEAD, RefDb, SYMBOLIC, TAG_PREFIX, TIMELINE_PREFIX, TRACKING_PREFIX, describeRef, tagRef, timelineRef } from './refdb.js'

/**
 * A parsed revision: `base[@{n}][#n][~n|^n]*[:stage[/json/pointer]]`, where base is a full CID, a
 * short digest prefix, a timeline or tag name (optionally with its `timelines/`/`tags/` prefix) or
 * HEAD, and `#n` the checkpoint with sequence number n on its first-parent history.
 */
export interface Revision {
  readonly text: string
  readonly base: string
  readonly reflogIndex?: number
  /** `#n`: the checkpoint numbered n along the first parents of what base names. */
  readonly sequence?: number
  readonly steps: ReadonlyArray<{ readonly kind: 'ancestor' | 'parent'; readonly n: number }>
  readonly stage?: string
  /** An RFC 6901 JSON Pointer into the stage output (`rev:stage/detections/0`), '' when absent. */
  readonly pointer?: string
}

const MIN_SHORT_ID = 4

export function parseRevision(text: string): Revision {
  const bad = (why: string): never => {
    throw new CkptError('INVALID_REVISION', `invalid revision "${text}": ${why}`, { details: { revision: text } })
  }
  if (typeof text !== 'string' || text.length === 0) bad('it is empty')
  const colon = text.indexOf(':')
  const afterColon = colon === -1 ? undefined : text.slice(colon + 1)
  const slash = afterColon === undefined ? -1 : afterColon.indexOf('/')
  const stage = afterColon === undefined || slash === -1 ? afterColon : afterColon.slice(0, slash)
  const pointer = afterColon === undefined || slash === -1 ? undefined : afterColon.slice(slash)
  if (stage === '') bad('no stage name after ":"')
  const head = colon === -1 ? text : text.slice(0, colon)
  const firstStep = head.search(/[~^]/)
  let base = firstStep === -1 ? head : head.slice(0, firstStep)
  const stepText = firstStep === -1 ? '' : head.slice(firstStep)
  let sequence: number | undefined
  const hash = base.lastIndexOf('#')
  if (hash !== -1) {
    const digits = base.slice(hash + 1)
    if (!/^\d+$/.test(digits)) bad(`"#${digits}" is not a sequence number (write e.g. main#12)`)
    sequence = Number(digits)
    if (!Number.isSafeInteger(sequence) || sequence < 1) bad('sequence numbers start at 1 (#1 is the first checkpoint)')
    base = base.slice(0, hash)
  }
  let reflogIndex: number | undefined
  const reflog = /@\{(\d+)\}$/.exec(base)
  if (reflog) {
    reflogIndex = Number(reflog[1])
    base = base.slice(0, reflog.index)
  }
  if (base === '@') base = HEAD
  if (base === '') bad('it names no checkpoint before the suffix')
  const steps: Array<{ kind: 'ancestor' | 'parent'; n: number }> = []
  const stepPattern = /([~^])(\d*)/gy
  let consumed = 0
  for (let m = stepPattern.exec(stepText); m; m = stepPattern.exec(stepText)) {
    steps.push({ kind: m[1] === '~' ? 'ancestor' : 'parent', n: m[2] === '' ? 1 : Number(m[2]) })
    consumed = stepPattern.lastIndex
  }
  if (consumed !== stepText.length) bad(`unexpected "${stepText.slice(consumed)}"`)
  return { text, base, steps, ...(reflogIndex !== undefined && { reflogIndex }), ...(sequence !== undefined && { sequence }), ...(stage !== undefined && { stage }), ...(pointer !== undefined && { pointer }) }
}

/** What resolution needs from the store. */
export interface ResolveContext {
  readonly refs: RefDb
  loadCheckpoint(cid: CID): Promise<CheckpointNode>
  /** Checkpoint ids among stored dag-json objects in a key range. */
  candidates(range: { gte: Uint8Array; lt: Uint8Array }): AsyncIterable<CID>
  isCheckpoint(cid: CID): Promise<boolean>
}

/** Resolves a parsed revision to a checkpoint id (ignoring `stage`, which the caller applies). */
export async function resolveCheckpoint(rev: Revision, ctx: ResolveContext): Promise<CID> {
  let cid = rev.reflogIndex !== undefined ? await resolveReflog(rev, ctx) : await resolveBase(rev, ctx)
  if (rev.sequence !== undefined) cid = await numbered(cid, rev.sequence, rev, ctx)
  for (const step of rev.steps) {
    if (step.kind === 'parent') {
      if (step.n === 0) continue
      cid = await parentOf(cid, step.n - 1, rev, ctx)
    } else {
      for (let i = 0; i < step.n; i++) cid = await parentOf(cid, 0, rev, ctx)
    }
  }
  return cid
}

/** The checkpoint numbered `sequence` along the first parents of `from`. */
async function numbered(from: CID, sequence: number, rev: Revision, ctx: ResolveContext): Promise<CID> {
  let cid: CID | undefined = from
  const top = (await ctx.loadCheckpoint(from)).seq ?? 1
  if (sequence > top) {
    throw new CkptError('NOT_FOUND', `revision "${rev.text}": the history there has ${top} checkpoints (#1 to #${top})`, { details: { revision: rev.text, last: top } })
  }
  while (cid !== undefined) {
    const node = await ctx.loadCheckpoint(cid)
    if (node.seq === sequence) return cid
    cid = node.parents[0]
  }
  throw new CkptError('NOT_FOUND', `revision "${rev.text}": checkpoint #${sequence} is gone (retention cut the history)`, { details: { revision: rev.text } })
}

async function parentOf(cid: CID, index: number, rev: Revision, ctx: ResolveContext): Promise<CID> {
  const node = await ctx.loadCheckpoint(cid)
  const parent = node.parents[index]
  if (!parent) {
    throw new CkptError('NOT_FOUND', `revision "${rev.text}": checkpoint ${digestHex(cid).slice(0, 10)} has no parent #${index + 1}`, {
      details: { revision: rev.text },
    })
  }
  return parent
}

async function resolveReflog(rev: Revision, ctx: ResolveContext): Promise<CID> {
  const ref = await refForName(rev.base, rev, ctx)
  const index = rev.reflogIndex ?? 0
  const entries = await ctx.refs.reflog(ref, { newestFirst: true, limit: index + 1 })
  const entry = entries[index]
  if (!entry) {
    throw new CkptError('NOT_FOUND', `revision "${rev.text}": the reflog of ${describeRef(ref)} has only ${entries.length} entries`, {
      details: { revision: rev.text },
    })
  }
  const target = entry.new?.startsWith(SYMBOLIC) ? await symbolicTargetAt(ctx.refs, entry.new.slice(SYMBOLIC.length), entry.time) : entry.new
  const cid = target === null || target === undefined ? undefined : tryParseCid(target)
  if (!cid) {
    throw new CkptError('NOT_FOUND', `revision "${rev.text}": ${describeRef(ref)} pointed at no checkpoint then`, { details: { revision: rev.text } })
  }
  return cid
}

/**
 * What the ref HEAD named (`ref: timelines/main`) held at `time`: a commit on HEAD logs both refs
 * in one step at one time, so `HEAD@{n}` is the checkpoint HEAD reached then.
 */
export async function symbolicTargetAt(refs: RefDb, ref: string, time: number): Promise<string | undefined> {
  for (const entry of await refs.reflog(ref, { newestFirst: true })) if (entry.time <= time) return entry.new ?? undefined
  return undefined
}

/** The full ref name a user-facing name means; AMBIGUOUS_REF when it is both a timeline and a tag. */
async function refForName(name: string, rev: Revision, ctx: ResolveContext): Promise<string> {
  if (name === HEAD || name.startsWith(TIMELINE_PREFIX) || name.startsWith(TAG_PREFIX)) return name
  const [timeline, tag] = await Promise.all([ctx.refs.read(timelineRef(name)), ctx.refs.read(tagRef(name))])
  if (timeline !== undefined && tag !== undefined) {
    throw new CkptError('AMBIGUOUS_REF', `"${name}" is both a timeline and a tag; write timelines/${name} or tags/${name}`, {
      details: { revision: rev.text, candidates: [timelineRef(name), tagRef(name)] },
    })
  }
  if (tag !== undefined) return tagRef(name)
  if (timeline !== undefined) return timelineRef(name)
  // A timeline deleted since still has its reflog.
  return timelineRef(name)
}

async function resolveBase(rev: Revision, ctx: ResolveContext): Promise<CID> {
  const { base } = rev
  if (base === HEAD) return resolveHead(rev, ctx)
  if (base.startsWith(TIMELINE_PREFIX) || base.startsWith(TAG_PREFIX) || base.startsWith(TRACKING_PREFIX)) {
    const cid = await ctx.refs.readCid(base)
    if (cid) return cid
    throw notFound(rev)
  }
  // A full id names its checkpoint before any ref of that name, as a full object name does in git.
  const full = tryParseCid(base)
  if (full && (await ctx.isCheckpoint(full))) return full
  const [timeline, tag] = await Promise.all([ctx.refs.readCid(timelineRef(base)), ctx.refs.readCid(tagRef(base))])
  if (timeline && tag && !timeline.equals(tag)) {
    throw new CkptError('AMBIGUOUS_REF', `"${base}" is both a timeline and a tag; write timelines/${base} or tags/${base}`, {
      details: { revision: rev.text, candidates: [timelineRef(base), tagRef(base)] },
    })
  }
  if (timeline ?? tag) return (timeline ?? tag) as CID
  // `origin/main`: where a remote's timeline was at the last fetch.
  const tracking = isValidRefName(base) ? await ctx.refs.readCid(TRACKING_PREFIX + base) : undefined
  if (tracking) return tracking
  if (full) throw notFound(rev)
  if (/^[0-9a-f]+$/i.test(base) && base.length >= MIN_SHORT_ID && base.length <= 64) return resolveShortId(base.toLowerCase(), rev, ctx)
  const head = await ctx.refs.head()
  if (head?.target.kind === 'timeline' && head.target.timeline === base) {
    throw new CkptError('NOT_FOUND', `timeline "${base}" has no checkpoints yet; record one with commit`, { details: { revision: rev.text } })
  }
  throw notFound(rev)
}

async function resolveHead(rev: Revision, ctx: ResolveContext): Promise<CID> {
  const head = await ctx.refs.head()
  if (!head) throw new CkptError('NOT_FOUND', 'HEAD is not set', { details: { revision: rev.text } })
  if (head.target.kind === 'detached') return head.target.checkpoint
  const cid = await ctx.refs.readCid(timelineRef(head.target.timeline))
  if (!cid) {
    throw new CkptError('NOT_FOUND', `HEAD is on timeline "${head.target.timeline}", which has no checkpoints yet`, {
      details: { revision: rev.text },
    })
  }
  return cid
}

async function resolveShortId(prefix: string, rev: Revision, ctx: ResolveContext): Promise<CID> {
  const matches: CID[] = []
  for await (const cid of ctx.candidates(keyRangeForDigestPrefix(DAG_JSON_CODE, prefix))) {
    if (await ctx.isCheckpoint(cid)) matches.push(cid)
    if (matches.length > 20) break
  }
  if (matches.length === 1) return matches[0] as CID
  if (matches.length === 0) throw notFound(rev)
  const candidates = matches.map((c) => cidString(c))
  throw new CkptError('AMBIGUOUS_REF', `short id "${prefix}" matches ${matches.length} checkpoints: ${matches.map((c) => digestHex(c).slice(0, 12)).join(', ')}`, {
    details: { revision: rev.text, candidates },
  })
}

function notFound(rev: Revision): CkptError {
  return new CkptError('NOT_FOUND', `unknown revision "${rev.text}"`, { details: { revision: rev.text } })
}

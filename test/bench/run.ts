/**
 * `npm run bench`: the core store's figures, each beside a baseline measured in the same run,
 * so a noisy machine shows in both. Writes docs/benchmarks.md. Never part of `npm test`.
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { ClassicLevel } from 'classic-level'
import { hash as blake3 } from 'blake3-jit'
import { initStore, openStore } from '../../src/index.js'
import { langgraphBench } from './langgraph.js'
import { hugeStreamBench, largeBench, treeBytes, writeRandomFile } from './large.js'
import { benchServer, checkPostgresAvailable, postgresBench } from './postgres.js'
import { resticBench } from './restic.js'
import { serverBench } from './server.js'
import { arrayDiffBench, directoryCheckoutBench } from './scale.js'
import { initialStages, isomorphicGitHistory, peakRssOfChild, settleDisk, stageHistory } from './baselines.js'

interface Row {
  readonly workload: string
  readonly ckpt: string
  readonly baseline: string
  readonly ratio: string
  readonly durability: string
}

const rows: Row[] = []
const rowLine = (r: Row) => `| ${r.workload} | ${r.ckpt} | ${r.baseline} | ${r.ratio} | ${r.durability} |`
/** The built `ckpt` command, as users run it. */
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../cli/main.js')

/** One of issue 23's targets, as measured in this run. */
interface Target {
  readonly target: string
  readonly measured: string
  readonly met: boolean
}
const targets: Target[] = []
const targetLine = (t: Target, missed: string) => `| ${t.target} | ${t.measured} | ${t.met ? 'met' : missed} |`
const work = mkdtempSync(path.join(os.tmpdir(), 'ckpt-bench-'))
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })

/**
 * Records a target of issue 23: `value` against `limit`. Ratios of speeds are written ckpt ÷ peer
 * (higher is better, `≥`); ratios of times ckpt ÷ peer (lower is better, `≤`).
 */
function target(what: string, value: number, direction: '≥' | '≤', limit: number, unit = '×'): void {
  const digits = unit === '×' ? 2 : 0
  targets.push({ target: `${what} ${direction} ${fmt(limit, digits)}${unit}`, measured: `${fmt(value, digits)}${unit}`, met: direction === '≥' ? value >= limit : value <= limit })
}

/** Best of `runs` timings of `fn`, in seconds. */
async function best(runs: number, fn: () => Promise<void> | void): Promise<number> {
  let fastest = Infinity
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint()
    await fn()
    fastest = Math.min(fastest, Number(process.hrtime.bigint() - start) / 1e9)
  }
  return fastest
}

async function hashing(): Promise<void> {
  const big = new Uint8Array(64 * 1024 * 1024).map((_, i) => (i * 2654435761) >>> 24)
  const b3 = await best(5, () => void blake3(big))
  const sha = await best(5, () => void createHash('sha256').update(big).digest())
  rows.push({ workload: 'hash 64 MiB (GB/s)', ckpt: `BLAKE3 ${fmt(big.length / b3 / 1e9, 2)}`, baseline: `SHA-256 (OpenSSL) ${fmt(big.length / sha / 1e9, 2)}`, ratio: fmt(b3 / sha, 2), durability: 'n/a' })
  const small = Array.from({ length: 20_000 }, (_, i) => new TextEncoder().encode(JSON.stringify({ i, pad: 'x'.repeat(2000) })))
  const b3s = await best(5, () => small.forEach((s) => blake3(s)))
  const shas = await best(5, () => small.forEach((s) => createHash('sha256').update(s).digest()))
  rows.push({ workload: 'hash 2 KiB inputs (per second)', ckpt: `BLAKE3 ${fmt(small.length / b3s)}`, baseline: `SHA-256 ${fmt(small.length / shas)}`, ratio: fmt(b3s / shas, 2), durability: 'n/a' })
}

async function commits(count: number): Promise<void> {
  const store = await initStore(path.join(work, 'commits'), { author: 'bench' })
  const outputs = Array.from({ length: count }, (_, i) => ({ step: i, detections: Array.from({ length: 20 }, (_, j) => ({ j, score: (i * j) % 97 })) }))
  const start = process.hrtime.bigint()
  for (let i = 0; i < count; i++) await store.commit({ stage: `stage${i % 20}`, output: outputs[i] })
  const ckptSeconds = Number(process.hrtime.bigint() - start) / 1e9

  // Baseline: the same number of LevelDB batches, each writing bytes of the same size, no hashing or encoding.
  const db = new ClassicLevel<string, string>(path.join(work, 'raw-level'))
  await db.open()
  const payloads = outputs.map((o) => JSON.stringify(o))
  const baseStart = process.hrtime.bigint()
  for (let i = 0; i < count; i++) {
    await db.batch([
      { type: 'put', key: `o${i}`, value: payloads[i] as string },
      { type: 'put', key: `c${i}`, value: 'x'.repeat(700) },
    ])
    await db.put('ref', String(i))
  }
  const baseSeconds = Number(process.hrtime.bigint() - baseStart) / 1e9
  await db.close()
  rows.push({
    workload: `${fmt(count)} sequential commits of ~1 KB JSON (per second)`,
    ckpt: fmt(count / ckptSeconds),
    baseline: `raw LevelDB batches ${fmt(count / baseSeconds)}`,
    ratio: fmt(ckptSeconds / baseSeconds, 2),
    durability: 'process crash (no fsync), both',
  })

  const walk = await best(3, async () => {
    let n = 0
    for await (const _ of store.log('main')) n++
    if (n !== count) throw new Error(`log walked ${n}`)
  })
  const reopened = new ClassicLevel<string, string>(path.join(work, 'raw-level'))
  await reopened.open()
  const rawWalk = await best(3, async () => {
    for (let i = count - 1; i >= 0; i--) JSON.parse((await reopened.get(`o${i}`)) as string)
  })
  await reopened.close()
  rows.push({
    workload: `log walk of ${fmt(count)} checkpoints (per second)`,
    ckpt: fmt(count / walk),
    baseline: `raw LevelDB get + JSON.parse ${fmt(count / rawWalk)}`,
    ratio: fmt(walk / rawWalk, 2),
    durability: 'n/a',
  })
  // What `ckpt log` prints, from history segments (docs/format.md), against the same raw reads.
  const headers = await best(3, async () => {
    let n = 0
    for await (const _ of store.history('main')) n++
    if (n !== count) throw new Error(`history walked ${n}`)
  })
  rows.push({
    workload: `history walk (log headers) of ${fmt(count)} checkpoints (per second)`,
    ckpt: fmt(count / headers),
    baseline: `raw LevelDB get + JSON.parse ${fmt(count / rawWalk)}`,
    ratio: fmt(headers / rawWalk, 2),
    durability: 'n/a',
  })
  const first20 = await best(5, async () => {
    let n = 0
    for await (const _ of store.log('main')) if (++n === 20) break
  })
  target('log walk (headers, as `ckpt log` shows them) of 100,000 checkpoints, checkpoints/s', count / headers, '≥', 100_000, '/s')
  rows.push({ workload: 'first 20 log entries (ms, in-process)', ckpt: fmt(first20 * 1000, 2), baseline: '-', ratio: '-', durability: 'n/a' })
  await store.close()
  // The same walk from the command line, in a fresh process, drawn as a graph of every timeline.
  const graph = await best(3, () => void execFileSync(process.execPath, [CLI, '--store', path.join(work, 'commits'), 'log', '--graph', '--all'], { stdio: ['ignore', 'ignore', 'pipe'] }))
  rows.push({ workload: `\`ckpt log --graph --all\` of ${fmt(count)} checkpoints, a fresh process (per second)`, ckpt: fmt(count / graph), baseline: `the in-process history walk above ${fmt(count / headers)}`, ratio: fmt(graph / headers, 2), durability: 'n/a' })
  target(`\`ckpt log --graph --all\` of ${fmt(count)} checkpoints, checkpoints/s`, count / graph, '≥', 100_000, '/s')
}

/** `ckpt log -n 20` and `ckpt status` as processes, against the cost of starting Node at all. */
/** gc on the 100k-checkpoint store `commits` built: a full mark, then half the history dropped and freed. */
async function gcBench(count: number): Promise<void> {
  const mib = (n: number) => fmt(n / 2 ** 20)
  const dir = path.join(work, 'commits')
  const child = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'gc-child.js')
  const run = async (...args: string[]) => {
    const { peakRssBytes, stdout } = await peakRssOfChild(child, [dir, ...args])
    return { peakRssBytes, ...(JSON.parse(stdout) as { seconds: number; result: Record<string, unknown> }) }
  }
  const list = await run('list')
  const fsckRun = await run('fsck')
  const full = await run('gc')
  const objects = (full.result as { kept: number }).kept
  const held = (r: typeof full) => (r.result as { timings: { writersHeldMs: number } }).timings.writersHeldMs
  rows.push({
    workload: `gc of a store of ${fmt(count)} checkpoints (${fmt(objects)} objects, all reachable) (s)`,
    ckpt: fmt(full.seconds, 2),
    baseline: `fsck --quick (the same walk) ${fmt(fsckRun.seconds, 2)}`,
    ratio: fmt(full.seconds / fsckRun.seconds, 2),
    durability: 'n/a',
  })
  rows.push({ workload: '… its peak RSS (MiB, whole process)', ckpt: mib(full.peakRssBytes), baseline: `listing every object id ${mib(list.peakRssBytes)}`, ratio: fmt(full.peakRssBytes / list.peakRssBytes, 2), durability: 'n/a' })
  const dropped = await run('retain-gc', String(count / 2))
  const freed = (dropped.result as { freed: { objects: number } }).freed.objects
  rows.push({
    workload: `retention keeps the newest ${fmt(count / 2)}, then gc frees ${fmt(freed)} objects (s)`,
    ckpt: fmt(dropped.seconds, 2),
    baseline: `fsck --quick ${fmt(fsckRun.seconds, 2)}`,
    ratio: fmt(dropped.seconds / fsckRun.seconds, 2),
    durability: 'process crash (no fsync)',
  })
  rows.push({ workload: '… its peak RSS (MiB, whole process)', ckpt: mib(dropped.peakRssBytes), baseline: `listing every object id ${mib(list.peakRssBytes)}`, ratio: fmt(dropped.peakRssBytes / list.peakRssBytes, 2), durability: 'n/a' })
  rows.push({ workload: '… writers held while its deletions were written (ms)', ckpt: fmt(held(dropped)), baseline: `the whole gc ${fmt(dropped.seconds * 1000)}`, ratio: fmt(held(dropped) / (dropped.seconds * 1000), 3), durability: 'n/a' })
}

async function cliStartup(): Promise<void> {
  const dir = path.join(work, 'cli-store')
  const store = await initStore(dir, { author: 'bench' })
  for (let i = 0; i < 1000; i++) await store.commit({ stage: `s${i % 20}`, output: { i } })
  await store.close()
  const wall = (args: string[]) => best(7, () => void execFileSync(process.execPath, args, { stdio: 'ignore', env: { ...process.env, CKPT_DIR: dir } }))
  const node = await wall(['-e', '0'])
  for (const command of [['log', '-n', '20'], ['status']]) {
    const seconds = await wall([CLI, ...command])
    rows.push({ workload: `\`ckpt ${command.join(' ')}\` wall time (ms)`, ckpt: fmt(seconds * 1000, 1), baseline: `node -e 0: ${fmt(node * 1000, 1)}`, ratio: fmt(seconds / node, 2), durability: 'n/a' })
    target(`\`ckpt ${command.join(' ')}\` time ÷ \`node -e 0\``, seconds / node, '≤', 2)
  }
}

/** The state history LangGraph users write: 20 stages of ~2 KB JSON, one changing per checkpoint. */
async function stageCheckpoints(steps: number, sqlitePutsPerSecond: number): Promise<void> {
  const initial = initialStages()
  const changes = stageHistory(steps)
  const dir = path.join(work, 'stage-history')
  const store = await initStore(dir, { author: 'bench' })
  const values = changes.map((c) => JSON.parse(c.json) as unknown)
  await store.commit({ outputs: Object.fromEntries(initial.map((s) => [s.stage, JSON.parse(s.json) as unknown])) })
  const start = process.hrtime.bigint()
  for (const [i, change] of changes.entries()) await store.commit({ stage: change.stage, output: values[i] })
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  await store.close()
  const perSecond = steps / seconds
  const distinct = new Set([...initial, ...changes].map((s) => s.json))
  const distinctBytes = [...distinct].reduce((sum, json) => sum + Buffer.byteLength(json), 0)
  const size = treeBytes(dir)
  const git = await isomorphicGitHistory(path.join(work, 'isogit'), initial, changes)
  const mib = (n: number) => `${fmt(n / 2 ** 20, 1)} MiB`
  rows.push({ workload: `${fmt(steps)} checkpoints, 20 stages of ~2 KB JSON, one changing (per second)`, ckpt: fmt(perSecond), baseline: `LangGraph SqliteSaver puts ${fmt(sqlitePutsPerSecond)}`, ratio: fmt(sqlitePutsPerSecond / perSecond, 2), durability: 'process crash (no fsync), both' })
  target('20-stage checkpoints/s ÷ SqliteSaver puts/s', perSecond / sqlitePutsPerSecond, '≥', 3)
  rows.push({ workload: 'the same history (per second)', ckpt: fmt(perSecond), baseline: `isomorphic-git blobs+trees+commits ${fmt(git.commits / git.seconds)}`, ratio: fmt(git.commits / git.seconds / perSecond, 2), durability: 'process crash at best, both (isomorphic-git writes refs in place)' })
  rows.push({ workload: `the same history: store size (distinct content ${mib(distinctBytes)})`, ckpt: `${mib(size)} (${fmt(size / distinctBytes, 2)}×)`, baseline: `isomorphic-git ${mib(git.bytesOnDisk)} (${fmt(git.bytesOnDisk / distinctBytes, 2)}×)`, ratio: fmt(size / git.bytesOnDisk, 2), durability: 'n/a' })
  await gitMirror(dir, steps + 1, git.commits / git.seconds, perSecond)
}

/** `export --git` of the 20-stage history, then `import --git` of it into an empty store. */
async function gitMirror(storeDir: string, checkpoints: number, isomorphicGitPerSecond: number, commitsPerSecond: number): Promise<void> {
  const store = await openStore(storeDir)
  const mirror = path.join(work, 'mirror.git')
  let start = process.hrtime.bigint()
  const exported = await store.exportGit(mirror)
  const exportSeconds = Number(process.hrtime.bigint() - start) / 1e9
  await store.close()
  if (exported.written !== checkpoints) throw new Error(`export --git wrote ${exported.written} commits, not ${checkpoints}`)
  const copy = await initStore(path.join(work, 'mirror-copy'), { author: 'bench' })
  start = process.hrtime.bigint()
  const imported = await copy.importGit(mirror, 'main')
  const importSeconds = Number(process.hrtime.bigint() - start) / 1e9
  await copy.close()
  if (imported.commits !== checkpoints) throw new Error(`import --git read ${imported.commits} commits, not ${checkpoints}`)
  rows.push({ workload: 'the same history: `export --git` (checkpoints/s)', ckpt: fmt(checkpoints / exportSeconds), baseline: `isomorphic-git writing it directly ${fmt(isomorphicGitPerSecond)}`, ratio: fmt(isomorphicGitPerSecond / (checkpoints / exportSeconds), 2), durability: 'neither fsyncs' })
  rows.push({ workload: 'the same history: `import --git` into an empty store (checkpoints/s)', ckpt: fmt(checkpoints / importSeconds), baseline: `committing it ${fmt(commitsPerSecond)}`, ratio: fmt(commitsPerSecond / (checkpoints / importSeconds), 2), durability: 'process crash, both' })
}

/** `diff` of two checkpoints with 1,000 stages, one of them changed. */
async function wideDiff(): Promise<void> {
  const store = await initStore(path.join(work, 'wide'), { author: 'bench' })
  const a = await store.commit({ outputs: Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`stage${i}`, { i, items: [i, i + 1, i + 2] }])) })
  const b = await store.commit({ stage: 'stage500', output: { i: 500, items: [500, 501, 999] } })
  const seconds = await best(20, async () => {
    const diff = await store.diff(a.id, b.id)
    if (diff.stages.filter((s) => s.status === 'changed').length !== 1) throw new Error('diff found the wrong changes')
  })
  await store.close()
  rows.push({ workload: '`diff` of two checkpoints of 1,000 stages, one changed (ms, in-process)', ckpt: fmt(seconds * 1000, 2), baseline: '-', ratio: '-', durability: 'n/a' })
}

async function large(bytes: number): Promise<void> {
  const f = await largeBench(work, bytes, process.env.CKPT_BENCH_GIT !== '0')
  const size = `${fmt(bytes / 2 ** 30, 2)} GiB`
  const mbps = (seconds: number) => fmt(bytes / seconds / 1e6)
  const mib = (n: number) => `${fmt(n / 2 ** 20, 2)} MiB`
  rows.push({ workload: `commit a new ${size} output, streamed from a file (MB/s)`, ckpt: mbps(f.commitNew.seconds), baseline: `append to one file + fsync ${mbps(f.commitNew.appendSeconds)}`, ratio: fmt(f.commitNew.seconds / f.commitNew.appendSeconds, 2), durability: 'fsync, both' })
  rows.push({ workload: `… peak RSS of that commit (MiB, whole process)`, ckpt: fmt(f.commitNew.peakRssBytes / 2 ** 20), baseline: 'target ≤ 300', ratio: '-', durability: 'n/a' })
  rows.push({ workload: `commit the same ${size} again (s)`, ckpt: fmt(f.commitAgain.seconds, 2), baseline: `read + streamed BLAKE3 (hash-wasm) ${fmt(f.commitAgain.hashSeconds, 2)}`, ratio: fmt(f.commitAgain.seconds / f.commitAgain.hashSeconds, 2), durability: 'fsync' })
  rows.push({ workload: '… store growth', ckpt: mib(f.commitAgain.growthBytes), baseline: 'target ≤ 1 MiB', ratio: '-', durability: 'n/a' })
  rows.push({ workload: `${size} with 1 MiB overwritten in the middle: store growth`, ckpt: mib(f.overwrite.growthBytes), baseline: 'target ≤ 4 MiB', ratio: '-', durability: 'n/a' })
  rows.push({ workload: `${size} with 1 MiB inserted at 1/3: store growth`, ckpt: mib(f.insert.growthBytes), baseline: 'target ≤ 4 MiB', ratio: '-', durability: 'n/a' })
  rows.push({ workload: `checkout the ${size} output to a file (MB/s)`, ckpt: mbps(f.checkout.seconds), baseline: `cp + fsync ${mbps(f.checkout.cpSeconds)}`, ratio: fmt(f.checkout.seconds / f.checkout.cpSeconds, 2), durability: 'fsync, both' })
  target(`checkout of ${size}: MB/s ÷ cp + fsync`, f.checkout.cpSeconds / f.checkout.seconds, '≥', 0.8)
  largeAgainstRestic(bytes, f.commitNew.appendSeconds)
  if (f.git) {
    rows.push({ workload: `the new ${size} through \`git add && git commit\` (s)`, ckpt: fmt(f.commitNew.seconds, 2), baseline: `git ${fmt(f.git.seconds, 2)}`, ratio: fmt(f.commitNew.seconds / f.git.seconds, 2), durability: 'ckpt fsync; git fsyncs its pack, not the commit or ref' })
  }
}

/** How the restic rows were measured, for the notes; empty when restic was skipped. */
let resticNote = ''

/** The CLI on a big file beside restic on the same file (test/bench/restic.ts). */
function largeAgainstRestic(bytes: number, appendSeconds: number): void {
  const size = `${fmt(bytes / 2 ** 30, 2)} GiB`
  const r = resticBench(work, bytes)
  if ('skipped' in r) {
    rows.push({ workload: `${size} file from the CLI against restic`, ckpt: '-', baseline: `skipped: ${r.skipped}`, ratio: '-', durability: 'n/a' })
    targets.push({ target: 'large files from the CLI against restic', measured: `not measured: ${r.skipped}`, met: false })
    return
  }
  resticNote = `restic rows (test/bench/restic.ts): ${r.version}, with its defaults (a new repository, its local cache, the password from the environment), and ckpt's CLI with its own, each as a whole process on the same one file in turn; both count their start-up. ckpt's first unchanged re-commit hashes the file because it was written just before its first commit; the second is trusted on its stat (docs/performance.md).`
  const durability = 'ckpt: process crash (the CLI default); restic: fsyncs its packs'
  const steps = [
    ['`ckpt commit --file` of a new ' + size + ' file (s)', r.created, 0.7],
    ['… the same file unchanged, first re-commit: written within 2 s of its first commit, so hashed once (s)', r.unchanged, undefined],
    ['… unchanged again: its stat proves it unchanged (s)', r.unchangedAgain, 1],
    ['… 1 MiB overwritten in its middle (s)', r.overwritten, 0.7],
    ['… 1 MiB inserted at a third (s)', r.inserted, 0.7],
  ] as const
  for (const [workload, step, limit] of steps) {
    rows.push({ workload, ckpt: fmt(step.ckptSeconds, 2), baseline: `restic backup ${fmt(step.resticSeconds, 2)}`, ratio: fmt(step.ckptSeconds / step.resticSeconds, 2), durability })
    if (limit !== undefined) target(`${workload.replace(/^… /, `${size} file, `).replace(/ \(s\)$/, '')}: time ÷ restic`, step.ckptSeconds / step.resticSeconds, '≤', limit)
  }
  target(`new ${size} file from the CLI: MB/s ÷ append + fsync`, appendSeconds / r.created.ckptSeconds, '≥', 0.8)
}

async function huge(bytes: number): Promise<void> {
  const { put, get, exportCar, importCar } = await hugeStreamBench(work, bytes)
  const size = `${fmt(bytes / 2 ** 30, 0)} GiB`
  const mib = (n: number) => fmt(n / 2 ** 20)
  rows.push({ workload: `put a ${size} output from a stream: peak RSS (MiB, whole process)`, ckpt: `${mib(put.peakRssBytes)} (${fmt(bytes / put.seconds / 1e6)} MB/s)`, baseline: 'target ≤ 300', ratio: '-', durability: 'fsync' })
  rows.push({ workload: `get it back as a stream: peak RSS (MiB, whole process)`, ckpt: `${mib(get.peakRssBytes)} (${fmt(bytes / get.seconds / 1e6)} MB/s)`, baseline: 'target ≤ 300', ratio: '-', durability: 'n/a' })
  rows.push({ workload: `\`ckpt export main -o f.car\` of that ${size} closure: peak RSS (MiB, whole process)`, ckpt: `${mib(exportCar.peakRssBytes)} (${fmt(bytes / exportCar.seconds / 1e6)} MB/s)`, baseline: `the stream read above ${fmt(bytes / get.seconds / 1e6)} MB/s`, ratio: fmt(exportCar.seconds / get.seconds, 2), durability: 'n/a' })
  rows.push({ workload: `\`ckpt import f.car\` into an empty store: peak RSS (MiB, whole process)`, ckpt: `${mib(importCar.peakRssBytes)} (${fmt(bytes / importCar.seconds / 1e6)} MB/s)`, baseline: `the stream put above ${fmt(bytes / put.seconds / 1e6)} MB/s`, ratio: fmt(importCar.seconds / put.seconds, 2), durability: 'ckpt import: process crash; put: fsync' })
}

/** Issue 18 item 13: one operation at scale, time beside `cp -r` where there is one, and peak memory. */
async function scale(files: number, items: number): Promise<void> {
  const mib = (n: number) => fmt(n / 2 ** 20)
  const checkout = await directoryCheckoutBench(work, files)
  rows.push({ workload: `\`checkout --to\` of a directory output of ${fmt(files)} files of ~1 KB (s)`, ckpt: fmt(checkout.seconds, 2), baseline: `cp -r of the same tree ${fmt(checkout.cpSeconds, 2)}`, ratio: fmt(checkout.seconds / checkout.cpSeconds, 2), durability: 'process crash: neither fsyncs (the default durability)' })
  rows.push({ workload: '… its peak RSS (MiB, whole process)', ckpt: mib(checkout.peakRssBytes), baseline: '-', ratio: '-', durability: 'n/a' })
  const diff = await arrayDiffBench(work, items, 10)
  const what = `two JSON outputs with a ${fmt(items)}-item array, ${diff.removed} removed from the middle`
  rows.push({ workload: `\`diff\` of ${what} (s, both outputs read and decoded)`, ckpt: fmt(diff.seconds, 2), baseline: '-', ratio: '-', durability: 'n/a' })
  rows.push({ workload: '… changes it reports', ckpt: fmt(diff.changes), baseline: `items removed ${diff.removed}`, ratio: fmt(diff.changes / diff.removed, 2), durability: 'n/a' })
  rows.push({ workload: '… its peak RSS (MiB, whole process)', ckpt: mib(diff.peakRssBytes), baseline: '-', ratio: '-', durability: 'n/a' })
}

async function langgraph(steps: number): Promise<number> {
  const { ckpt, sqlite, floor, distinctBytes } = await langgraphBench(steps)
  const mib = (n: number) => `${fmt(n / 2 ** 20, 1)} MiB`
  rows.push({ workload: `LangGraph saver: ${fmt(steps)} puts, 20 channels of 2 KB, one changing (puts/s)`, ckpt: fmt(ckpt.putsPerSecond), baseline: `SqliteSaver ${fmt(sqlite.putsPerSecond)}`, ratio: fmt(sqlite.putsPerSecond / ckpt.putsPerSecond, 2), durability: 'ckpt: process crash; SQLite: default journal (no fsync per put)' })
  rows.push({ workload: 'LangGraph saver: getTuple by id (ms)', ckpt: fmt(ckpt.getTupleMs, 3), baseline: `SqliteSaver ${fmt(sqlite.getTupleMs, 3)}`, ratio: fmt(ckpt.getTupleMs / sqlite.getTupleMs, 2), durability: 'n/a' })
  rows.push({ workload: `LangGraph saver: list all ${fmt(steps)} (checkpoints/s)`, ckpt: fmt(ckpt.listAllPerSecond), baseline: `SqliteSaver ${fmt(sqlite.listAllPerSecond)}`, ratio: fmt(sqlite.listAllPerSecond / ckpt.listAllPerSecond, 2), durability: 'n/a' })
  rows.push({ workload: 'LangGraph saver: getTuple by id, store reopened (ms)', ckpt: fmt(ckpt.reopened.getTupleMs, 3), baseline: `SqliteSaver ${fmt(sqlite.reopened.getTupleMs, 3)}`, ratio: fmt(ckpt.reopened.getTupleMs / sqlite.reopened.getTupleMs, 2), durability: 'n/a' })
  rows.push({ workload: `LangGraph saver: list all ${fmt(steps)}, store reopened (checkpoints/s)`, ckpt: fmt(ckpt.reopened.listAllPerSecond), baseline: `SqliteSaver ${fmt(sqlite.reopened.listAllPerSecond)}`, ratio: fmt(sqlite.reopened.listAllPerSecond / ckpt.reopened.listAllPerSecond, 2), durability: 'n/a' })
  rows.push({ workload: `LangGraph saver: bytes on disk at rest (distinct content ${mib(distinctBytes)})`, ckpt: `${mib(ckpt.bytesOnDisk)} (${fmt(ckpt.bytesOnDisk / distinctBytes, 1)}×)`, baseline: `SqliteSaver ${mib(sqlite.bytesOnDisk)} (${fmt(sqlite.bytesOnDisk / distinctBytes, 1)}×)`, ratio: fmt(ckpt.bytesOnDisk / sqlite.bytesOnDisk, 2), durability: 'n/a' })
  target('LangGraph saver puts/s ÷ SqliteSaver', ckpt.putsPerSecond / sqlite.putsPerSecond, '≥', 2)
  target('LangGraph getTuple, store reopened: time ÷ SqliteSaver', ckpt.reopened.getTupleMs / sqlite.reopened.getTupleMs, '≤', 1)
  target('LangGraph list all, store reopened: checkpoints/s ÷ SqliteSaver', ckpt.reopened.listAllPerSecond / sqlite.reopened.listAllPerSecond, '≥', 3)
  target('LangGraph bytes at rest ÷ distinct content', ckpt.bytesOnDisk / distinctBytes, '≤', 1.5)
  rows.push({ workload: 'LangGraph floor (the least work on ckpt\'s object model, test/bench/langgraph-floor.ts): puts/s', ckpt: fmt(floor.putsPerSecond), baseline: `SqliteSaver ${fmt(sqlite.putsPerSecond)}`, ratio: fmt(sqlite.putsPerSecond / floor.putsPerSecond, 2), durability: 'process crash, both' })
  rows.push({ workload: `LangGraph floor: list all ${fmt(steps)}, every node read and decoded (checkpoints/s)`, ckpt: fmt(floor.listAllPerSecond), baseline: `SqliteSaver ${fmt(sqlite.listAllPerSecond)}`, ratio: fmt(sqlite.listAllPerSecond / floor.listAllPerSecond, 2), durability: 'n/a' })
  return sqlite.putsPerSecond
}

/** Issue 19: ckpt on PostgreSQL beside PostgresSaver and COPY, on one server in one run. Returns the section for docs/benchmarks.md. */
async function postgres(): Promise<string> {
  const server = await benchServer()
  const largeBytes = Number(process.env.CKPT_BENCH_PG_LARGE_MIB ?? 1024) * 2 ** 20
  const largeFile = path.join(work, 'pg-large.bin')
  writeRandomFile(largeFile, largeBytes)
  const sizes = {
    steps: Number(process.env.CKPT_BENCH_PG_STEPS ?? 2000),
    saverSteps: Number(process.env.CKPT_BENCH_PG_SAVER_STEPS ?? 2000),
    writers: Number(process.env.CKPT_BENCH_PG_WRITERS ?? 8),
    writerCommits: Number(process.env.CKPT_BENCH_PG_WRITER_COMMITS ?? 300),
    largeBytes,
    largeFile,
  }
  let f: Awaited<ReturnType<typeof postgresBench>>
  try {
    f = await postgresBench(server, sizes)
  } finally {
    server.stop()
    rmSync(largeFile, { force: true })
  }
  const pgRows: Row[] = []
  const durable = 'one transaction per commit or put, both; the server\'s fsync setting (above) for both'
  const mib = (n: number) => `${fmt(n / 2 ** 20, 1)} MiB`
  const { stages, saver, writers, large } = f
  pgRows.push({ workload: `${fmt(stages.steps)} checkpoints, 20 stages of ~2 KB JSON, one changing (per second; target ratio ≤ 0.50)`, ckpt: fmt(stages.commitsPerSecond), baseline: `LangGraph PostgresSaver puts ${fmt(stages.saverPutsPerSecond)}`, ratio: fmt(stages.saverPutsPerSecond / stages.commitsPerSecond, 2), durability: durable })
  pgRows.push({ workload: '… bytes in the database, pg_total_relation_size (target ratio ≤ 0.60)', ckpt: mib(stages.ckptBytes), baseline: `PostgresSaver ${mib(stages.saverBytes)}`, ratio: fmt(stages.ckptBytes / stages.saverBytes, 2), durability: 'n/a' })
  pgRows.push({ workload: `LangGraph saver on PostgreSQL: ${fmt(saver.steps)} puts, 20 channels of 2 KB, one changing (puts/s; target ratio ≤ 0.50)`, ckpt: fmt(saver.ckpt.putsPerSecond), baseline: `PostgresSaver ${fmt(saver.postgresSaver.putsPerSecond)}`, ratio: fmt(saver.postgresSaver.putsPerSecond / saver.ckpt.putsPerSecond, 2), durability: durable })
  pgRows.push({ workload: 'LangGraph saver on PostgreSQL: getTuple by id (ms; target ratio ≤ 1)', ckpt: fmt(saver.ckpt.getTupleMs, 3), baseline: `PostgresSaver ${fmt(saver.postgresSaver.getTupleMs, 3)}`, ratio: fmt(saver.ckpt.getTupleMs / saver.postgresSaver.getTupleMs, 2), durability: 'n/a' })
  pgRows.push({ workload: `LangGraph saver on PostgreSQL: list all ${fmt(saver.steps)} (checkpoints/s; target ratio ≤ 0.50)`, ckpt: fmt(saver.ckpt.listAllPerSecond), baseline: `PostgresSaver ${fmt(saver.postgresSaver.listAllPerSecond)}`, ratio: fmt(saver.postgresSaver.listAllPerSecond / saver.ckpt.listAllPerSecond, 2), durability: 'n/a' })
  pgRows.push({ workload: `${writers.writers} writer processes × ${fmt(writers.commits)} commits on their own timelines (aggregate commits/s; target ratio ≤ 0.25)`, ckpt: fmt(writers.allPerSecond), baseline: `one writer process ${fmt(writers.onePerSecond)}`, ratio: fmt(writers.onePerSecond / writers.allPerSecond, 2), durability: 'one transaction per commit' })
  pgRows.push({ workload: `commit a new ${fmt(large.bytes / 2 ** 30, 2)} GiB output into PostgreSQL, streamed from a file (MB/s; target ratio ≤ 1.43)`, ckpt: fmt(large.bytes / large.ckptSeconds / 1e6), baseline: `psql COPY (FORMAT binary) of the same bytes into a bytea table, 256 KiB rows ${fmt(large.bytes / large.copySeconds / 1e6)}`, ratio: fmt(large.ckptSeconds / large.copySeconds, 2), durability: 'committed transactions, both; the server\'s fsync setting for both' })
  const table = ['| workload | ckpt | baseline (same run, same server) | ckpt time ÷ baseline time | durability |', '|---|---|---|---|---|', ...pgRows.map((r) => `| ${r.workload} | ${r.ckpt} | ${r.baseline} | ${r.ratio} | ${r.durability} |`)].join('\n')
  const where = process.env.CKPT_BENCH_POSTGRES_URL ? 'the server given by CKPT_BENCH_POSTGRES_URL' : 'a throwaway cluster started by .ci/postgres.sh on this machine (loopback TCP)'
  const pgNotes = [
    'Durability: with fsync=off (the .ci cluster) a committed transaction survives the client or the server process dying, not the machine losing power; both sides commit one transaction per checkpoint or put and wait for it, so the comparison is like with like. Against a server with fsync on, both would wait for one WAL flush per commit.',
    'The 20-stage rows: ckpt commits each changed stage output (test/bench/baselines.ts); PostgresSaver puts the same 20 values as channels, the first put with all of them, then one changed channel per put. Bytes: pg_total_relation_size of every table of each side\'s schema (indexes and TOAST included), after a CHECKPOINT.',
    'LangGraph rows: CkptSaver on a PostgreSQL store and PostgresSaver, the same workload as the SqliteSaver rows above (test/bench/langgraph.ts `putSteps`); getTuple is the mean of 500 reads by id.',
    `Writers: each writer is a process of its own (test/bench/pg-writer-child.ts) sharing only the URL, committing its own outputs on its own timeline; the aggregate is all commits over the span from the first start to the last end. This machine has ${os.cpus().length} cores, shared by the server and every writer.`,
    'Large output: a file of random bytes, committed from a stream (content-defined chunks of ~256 KiB, written 8 MiB per statement, two statements in flight), against psql `COPY … FROM STDIN (FORMAT binary)` of the same file in 256 KiB rows into a one-column bytea table with no index.',
    '`CKPT_BENCH_ONLY=postgres npm run bench` runs only these rows and prints this section; CKPT_BENCH_POSTGRES_URL points them at a server of your own (each run makes schemas named after it, and drops them). docs/performance.md ("PostgreSQL") says what limits each figure.',
  ]
  return `## PostgreSQL\n\nMeasured on ${new Date().toISOString().slice(0, 10)}: PostgreSQL ${server.version}, ${where}, ${server.settings}. ckpt and its peers use the same server in the same run, each in its own schema.\n\n${table}\n\nNotes:\n${pgNotes.map((n) => `- ${n}`).join('\n')}\n`
}

/** Issue 20: a real `ckpt serve` process beside a bare Fastify process, in one run. Returns the section for docs/benchmarks.md. */
async function serve(): Promise<string> {
  const sizes = {
    checkpoints: Number(process.env.CKPT_BENCH_SERVE_CHECKPOINTS ?? 300),
    seconds: Number(process.env.CKPT_BENCH_SERVE_SECONDS ?? 5),
    connections: Number(process.env.CKPT_BENCH_SERVE_CONNECTIONS ?? 10),
    samples: Number(process.env.CKPT_BENCH_SERVE_SAMPLES ?? 50),
  }
  const f = await serverBench(work, sizes)
  const met = (ok: boolean) => (ok ? 'met' : 'MISSED')
  const kib = (n: number) => `${fmt(n / 1024, 1)} KiB`
  const serveRows: Array<Row & { target: string }> = []
  for (const [route, page] of [['GET /api/log?limit=50', f.log], ['GET /api/checkpoints/ID', f.checkpoint]] as const) {
    const share = page.ckpt.requestsPerSecond / page.baseline.requestsPerSecond
    serveRows.push({ workload: `${route}, ${kib(page.ckpt.bytes)} of JSON (requests/s; target ≥ 0.5× the baseline)`, ckpt: fmt(page.ckpt.requestsPerSecond), baseline: `bare Fastify, static JSON of the same bytes ${fmt(page.baseline.requestsPerSecond)}`, ratio: fmt(1 / share, 2), durability: 'n/a', target: `${fmt(share, 2)}× ${met(share >= 0.5)}` })
    serveRows.push({ workload: '… its p99 latency (ms)', ckpt: fmt(page.ckpt.p99Ms), baseline: `bare Fastify ${fmt(page.baseline.p99Ms)}`, ratio: fmt(page.ckpt.p99Ms / Math.max(1, page.baseline.p99Ms), 2), durability: 'n/a', target: '-' })
  }
  const e = f.events
  serveRows.push({ workload: `CLI \`ckpt commit\` in another process → its SSE \`checkpoint\` event, ${e.samples} samples (p99 ms; target ≤ 200)`, ckpt: `${fmt(e.p99Ms)} (p50 ${fmt(e.p50Ms)}, max ${fmt(e.maxMs)})`, baseline: `the server's poll interval 100 (server/app.ts); the CLI commit's own wall time ${fmt(e.commitWallMs)}`, ratio: '-', durability: 'n/a', target: `${fmt(e.p99Ms)} ms ${met(e.p99Ms <= 200)}` })
  const table = ['| workload | ckpt serve | baseline (same run) | ckpt time ÷ baseline time | target |', '|---|---|---|---|---|', ...serveRows.map((r) => `| ${r.workload} | ${r.ckpt} | ${r.baseline} | ${r.ratio} | ${r.target} |`)].join('\n')
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${fmt(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`
  const serveNotes = [
    `The store: LevelDB, ${fmt(f.checkpoints)} checkpoints over 10 stages of ~1 KB JSON, one stage changing per checkpoint (test/bench/server.ts). The checkpoint page is the 26th of the log page, with its 10 stage outputs.`,
    `ckpt serve runs as its own process (the built \`ckpt serve --port 0\`); the baseline is a bare Fastify in a process of its own (test/bench/static-json-child.ts) answering the bytes ckpt served for the same route, read once from a file at start. autocannon drives both from the bench process, ${f.connections} connections for ${f.seconds} s each after a 1 s warm-up; requests/s counts 200 answers only. The ratio column is the baseline's requests/s over ckpt's (ckpt's time per request ÷ the baseline's); the target column gives ckpt's requests/s as a share of the baseline's.`,
    'Event latency: from the checkpoint\'s own `time` (taken by the CLI process as it commits, the same clock) to the `checkpoint` event arriving on an open `/api/events` stream in the bench process; each commit is a fresh `node dist/cli/main.js commit` process, a random 0-150 ms pause apart so that they fall anywhere in the server\'s polling cycle.',
    'docs/performance.md ("ckpt serve") says where the server\'s time goes.',
    '`CKPT_BENCH_ONLY=server npm run bench` runs only these rows and prints this section; CKPT_BENCH_SERVE_CHECKPOINTS, _SECONDS, _CONNECTIONS and _SAMPLES change the sizes.',
  ]
  return `## ckpt serve (issue 20)\n\nMeasured on ${new Date().toISOString().slice(0, 10)}. Machine: ${machine}.\n\n${table}\n\nNotes:\n${serveNotes.map((n) => `- ${n}`).join('\n')}\n`
}

const scaleFiles = Number(process.env.CKPT_BENCH_CHECKOUT_FILES ?? 50_000)
const scaleItems = Number(process.env.CKPT_BENCH_DIFF_ITEMS ?? 1_000_000)
const largeBytes = Number(process.env.CKPT_BENCH_LARGE_MIB ?? 1024) * 2 ** 20
const steps = Number(process.env.CKPT_BENCH_STEPS ?? 10_000)

/** The rows measured so far as printed lines, and with `withTargets` their targets after them. */
function printedRows(withTargets: boolean): string {
  const lines = rows.map(rowLine)
  if (withTargets) lines.push(...targets.map((t) => targetLine(t, 'missed')))
  return lines.join('\n')
}

/**
 * `CKPT_BENCH_ONLY=NAME npm run bench` runs one section alone and prints it, leaving
 * docs/benchmarks.md alone: the item-13 scale rows, the large-file rows (restic included) and
 * their targets, the PostgreSQL or `ckpt serve` section, or the LangGraph and 20-stage rows and
 * their targets.
 */
const sectionsAlone: Record<string, () => Promise<string>> = {
  scale: async () => {
    await scale(scaleFiles, scaleItems)
    return printedRows(false)
  },
  large: async () => {
    await large(largeBytes)
    return printedRows(true)
  },
  postgres,
  server: serve,
  langgraph: async () => {
    await stageCheckpoints(steps, await langgraph(steps))
    return printedRows(true)
  },
}
const only = process.env.CKPT_BENCH_ONLY
if (only !== undefined && Object.hasOwn(sectionsAlone, only)) {
  const printed = await sectionsAlone[only]!()
  rmSync(work, { recursive: true, force: true })
  console.log(printed)
  process.exit(0)
}

checkPostgresAvailable()
const benchStart = Date.now()
// Each section starts on a settled disk (settleDisk), not under the writeback of the one before.
await hashing()
settleDisk()
await large(largeBytes)
settleDisk()
await huge(Number(process.env.CKPT_BENCH_HUGE_MIB ?? 4096) * 2 ** 20)
settleDisk()
await stageCheckpoints(steps, await langgraph(steps))
const commitCount = Number(process.env.CKPT_BENCH_COMMITS ?? 100_000)
settleDisk()
await commits(commitCount)
settleDisk()
await gcBench(commitCount)
await wideDiff()
settleDisk()
await scale(scaleFiles, scaleItems)
await cliStartup()
const postgresSection = await postgres()
const serveSection = await serve()
rmSync(work, { recursive: true, force: true })
const benchMinutes = (Date.now() - benchStart) / 60_000

const header = '| workload | ckpt | baseline (same run) | ckpt time ÷ baseline time | durability |\n|---|---|---|---|---|'
const table = [header, ...rows.map(rowLine)].join('\n')
console.log(table)
const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${fmt(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`
const notes = [
  `The whole run took ${fmt(benchMinutes, 1)} minutes.`,
  'Durability: "fsync" means the figure includes making the data survive power loss; "process crash" means it survives the process dying but may be lost with the machine. ckpt offers both (`durability: \'fsync\' | \'process\'` when opening a store; the default is `process`, like SQLite\'s default journal and git). Each row compares like with like.',
  'The 1 GiB rows run ckpt in a separate process (test/bench/commit-child.ts) so that its peak RSS is the whole process\'s, Node included.',
  'The commit baseline writes bytes of the same size to the same LevelDB, with no hashing, encoding, verification, compare-and-swap or reflog. The gap between the two is ckpt\'s whole cost per checkpoint.',
  'The LangGraph floor rows are not a saver: they time the least work any saver on ckpt\'s object model does for the same workload (test/bench/langgraph-floor.ts; docs/langgraph.md, "What the object model allows").',
  'The LangGraph SqliteSaver rate in the 20-stage history row is the saver\'s puts/s measured in this run on the same shape of state (20 channels of ~2 KB, one changing per step).',
  'gc rows: each task runs in its own process (test/bench/gc-child.ts) on the store of the 100,000 commits above; the baseline `fsck --quick` walks the same graph from the same roots. Peak RSS is mostly V8 growing its heap: the same gc peaks at 276 MiB under `--max-old-space-size=96` (docs/maintenance.md).',
  'Each section starts on a settled disk (`sync` first, test/bench/baselines.ts `settleDisk`), and so does each LangGraph saver\'s workload and its reads after reopening: the writeback of gigabytes left by the large-file rows once landed on the LangGraph rows, on ckpt\'s saver (measured first) more than on SqliteSaver\'s.',
  'CLI start-up: Node itself takes the baseline time. Loading yargs 17 costs about 26 ms (yargs 18, ESM only, cost 63 ms, which is why we stay on 17).',
  'Scale rows (issue 18 item 13): each operation runs in its own process (test/bench/checkout-child.ts, test/fixtures/array-diff.ts); `CKPT_BENCH_ONLY=scale npm run bench` runs only these rows and prints them.',
  ...(resticNote ? [resticNote] : []),
  'docs/performance.md explains the figures, the targets missed and what limits them.',
]
const targetTable = ['| target (issue 23) | measured | |', '|---|---|---|', ...targets.map((t) => targetLine(t, '**missed**'))].join('\n')
console.log(targetTable)
const doc = `# Benchmarks\n\nProduced by \`npm run bench\` (test/bench/run.ts) on ${new Date().toISOString().slice(0, 10)}.\nMachine: ${machine}.\n\nEvery figure stands beside a baseline measured in the same run. For throughput rows, the ratio column is ckpt's time divided by the baseline's time for the same work (lower is better; 1.00 means no overhead).\n\n${table}\n\nNotes:\n${notes.map((n) => `- ${n}`).join('\n')}\n\n## Targets\n\nIssue 23's targets against the figures above, from the same run: a ratio is ckpt ÷ the peer, of speeds where the target is a floor (≥) and of times where it is a ceiling (≤).\n\n${targetTable}\n\n${postgresSection}\n${serveSection}`
writeFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../docs/benchmarks.md'), doc)

import { createWriteStream, type ReadStream } from 'node:fs'
import { open, rename, rm } from 'node:fs/promises'
import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import type { Argv } from 'yargs'
import { humanSize, jsonLine, out } from '../output.js'
import { library, withStore } from '../store.js'
import { Progress } from '../progress.js'
import type { Store } from '../../src/index.js'

interface ExportArgs {
  store?: string
  revs?: string[]
  output?: string
  git?: string
  json?: boolean
}

export const exportCommand = {
  command: 'export [revs..]',
  describe: 'Write checkpoints with their history to a CAR file, or mirror timelines into a git repository',
  builder: (y: Argv) =>
    y
      .positional('revs', { type: 'string', array: true, describe: 'Revisions (A..B: what B has that A lacks); with --git, timelines (default: all, with tags)' })
      .option('output', { alias: 'o', type: 'string', describe: 'The .car file to write' })
      .option('git', { type: 'string', describe: 'A git repository to mirror into (created bare if missing); reruns add only new checkpoints' })
      .option('json', { type: 'boolean', describe: 'Print the result as JSON' })
      .check((a) => {
        if ((a.output === undefined) === (a.git === undefined)) return 'give one of -o FILE.car or --git DIR'
        if (a.output !== undefined && (a.revs ?? []).length === 0) return 'name the revisions to export'
        return true
      })
      .example('$0 export main -o main.car', 'main with its whole history')
      .example('$0 export v1..main -o since-v1.car', 'only what main has that v1 lacks')
      .example('$0 import main.car', 'on the other machine')
      .example('$0 export --git ../mirror.git', 'every timeline as a branch, every tag as a tag')
      .example('git -C ../mirror.git log main -- detect.json', 'then browse with git'),
  handler: async (args: ExportArgs) => {
    await withStore(args, async (store) => {
      if (args.git !== undefined) return exportGit(store, args.git, args)
      const output = args.output as string
      const counts = { blocks: 0, bytes: 0 }
      // Written to a temporary name: an interrupted export never leaves a truncated file behind.
      const temp = `${output}.ckpt-tmp`
      try {
        await pipeline(Readable.from(store.exportCar(args.revs ?? [], counts)), createWriteStream(temp))
        await rename(temp, output)
      } catch (err) {
        await rm(temp, { force: true }).catch(() => undefined)
        throw (await library()).fileSystemError(err, output, 'cannot write')
      }
      if (args.json) jsonLine({ revisions: args.revs, ...counts })
      else out.line(`wrote ${counts.blocks} blocks (${humanSize(counts.bytes)}) to ${output}`)
    })
  },
}

async function exportGit(store: Store, dir: string, args: ExportArgs): Promise<void> {
  const progress = new Progress('export')
  const result = await progress.track(store.exportGit(dir, { ...(args.revs !== undefined && { timelines: args.revs }), onProgress: (done, total) => progress.update(done, total) }))
  if (args.json) return jsonLine(result)
  out.line(`${result.written} new commit${result.written === 1 ? '' : 's'} in ${result.gitdir}`)
  for (const { name, commit } of result.branches) out.line(`branch ${name} -> ${commit.slice(0, 12)}`)
  for (const { name, commit } of result.tags) out.line(`tag ${name} -> ${commit.slice(0, 12)}`)
}

interface ImportArgs {
  store?: string
  source: string
  branch?: string
  git?: boolean
  timeline?: string
  force?: boolean
  json?: boolean
}

export const importCommand = {
  command: 'import <source> [branch]',
  describe: 'Read a CAR file, or a branch of a git mirror: verify every object, then create or fast-forward timelines',
  builder: (y: Argv) =>
    y
      .positional('source', { type: 'string', demandOption: true, describe: 'A .car file written by ckpt export; with --git, the mirror repository' })
      .positional('branch', { type: 'string', describe: 'With --git: the branch (or commit) to read' })
      .option('git', { type: 'boolean', describe: 'SOURCE is a git mirror written by ckpt export --git' })
      .option('timeline', { alias: 't', type: 'string', describe: 'With --git: the timeline to create or move (default: the branch name)' })
      .option('force', { alias: 'f', type: 'boolean', describe: 'Move timelines and tags even when not a fast-forward (the old head stays in the reflog)' })
      .option('json', { type: 'boolean', describe: 'The result as one JSON object' })
      .check((a) => {
        if (a.git === true && a.branch === undefined) return 'with --git, name the branch to import'
        if (a.git !== true && a.branch !== undefined) return `unexpected argument ${String(a.branch)} (a branch is only read with --git)`
        return true
      })
      .example('$0 import main.car', 'bring in a colleague\'s checkpoints')
      .example('$0 import --force main.car', 'accept a rewritten timeline')
      .example('$0 import --git ../mirror.git main', 'read a git mirror\'s branch back, with identical ids'),
  handler: async (args: ImportArgs) => {
    await withStore(args, async (store) => {
      if (args.git === true) {
        const progress = new Progress('import')
        const result = await progress.track(store.importGit(args.source, args.branch as string, {
          ...(args.timeline !== undefined && { timeline: args.timeline }),
          force: args.force === true,
          onProgress: (done, total) => progress.update(done, total),
        }))
        if (args.json) return jsonLine(result)
        return out.line(`read ${result.commits} commit${result.commits === 1 ? '' : 's'}; ${result.timeline}: ${result.action} at ${result.head}`)
      }
      const result = await store.importCar(await openCar(args.source), { force: args.force === true })
      if (args.json) return jsonLine(result)
      out.line(`imported ${result.blocks} blocks (${humanSize(result.bytes)})`)
      for (const { ref, action } of result.refs) out.line(`${ref}: ${action}`)
    })
  },
}

/** The CAR file as a stream, opened first so that a missing file or a folder is a clear error naming it. */
async function openCar(source: string): Promise<ReadStream> {
  const { onPath } = await library()
  return onPath(source, async () => {
    const handle = await open(source, 'r')
    if ((await handle.stat()).isDirectory()) {
      await handle.close()
      throw Object.assign(new Error(`${source} is a folder`), { code: 'EISDIR' })
    }
    return handle.createReadStream()
  }, 'cannot read')
}

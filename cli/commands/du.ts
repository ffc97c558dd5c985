import type { Argv } from 'yargs'
import type { SpaceUsage } from '../../src/index.js'
import { bold, dim, humanSize, jsonLine, out } from '../output.js'
import { withStore } from '../store.js'

interface Args {
  store?: string
  json?: boolean
}

export const duCommand = {
  command: 'du',
  aliases: ['stats'],
  describe: 'Space used: checkpoints, objects, restored and stored bytes, dedupe ratio, per timeline and per stage (alias: stats)',
  builder: (y: Argv) =>
    y
      .option('json', { type: 'boolean', describe: 'Every figure as one JSON object (bytes as numbers)' })
      .example('$0 du', 'how much the history costs, and how much dedupe saves')
      .example('$0 stats --json', 'the same, for scripts')
      .epilogue(
        'Counts every checkpoint a timeline, tag or detached HEAD reaches. "restore size" is what restoring each of them in full would write ' +
          "(restic's restore-size); \"stored\" the distinct objects they reach, each once (restic's raw-data); dedupe is their ratio.",
      ),
  handler: async (args: Args) => {
    const stats = await withStore(args, (store) => store.stats())
    if (args.json) return jsonLine(stats)
    const ratio = (u: SpaceUsage) => (u.rawSize === 0 ? '-' : `${u.dedupeRatio.toFixed(2)}x`)
    out.line(`${bold('checkpoints')}     ${stats.checkpoints}`)
    const exactly = (bytes: number) => (bytes < 1024 ? '' : dim(`  (${bytes} bytes)`))
    out.line(`${bold('restore size')}    ${humanSize(stats.restoreSize)}${exactly(stats.restoreSize)}`)
    out.line(`${bold('stored')}          ${humanSize(stats.rawSize)} in ${stats.objects} objects${exactly(stats.rawSize)}`)
    out.line(`${bold('dedupe')}          ${ratio(stats)}`)
    out.line(`${bold('in the store')}    ${stats.storedObjects} objects, reachable or not`)
    const table = (title: string, rows: Array<{ name: string; extra: string } & SpaceUsage>) => {
      if (rows.length === 0) return
      const width = Math.max(title.length, ...rows.map((r) => r.name.length))
      out.line('')
      out.line(dim(`${title.padEnd(width)}  ${'checkpoints'.padStart(11)}  ${'restore size'.padStart(12)}  ${'stored'.padStart(10)}  ${'objects'.padStart(7)}  ${'dedupe'.padStart(7)}`))
      for (const r of rows) {
        out.line(`${r.name.padEnd(width)}  ${String(r.checkpoints).padStart(11)}  ${humanSize(r.restoreSize).padStart(12)}  ${humanSize(r.rawSize).padStart(10)}  ${String(r.objects).padStart(7)}  ${ratio(r).padStart(7)}${r.extra}`)
      }
    }
    table('timeline', stats.timelines.map((t) => ({ ...t, extra: '' })))
    table('stage', stats.stages.map((s) => ({ ...s, name: s.stage, extra: dim(`  ${s.versions} version${s.versions === 1 ? '' : 's'}`) })))
  },
}

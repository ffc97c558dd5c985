import type { Argv } from 'yargs'
import type { GcPhase } from '../../src/index.js'
import { ageOption } from '../duration.js'
import { green, humanSize, jsonLine, out } from '../output.js'
import { Progress } from '../progress.js'
import { withStore } from '../store.js'

interface Args {
  store?: string
  prune?: string
  dryRun?: boolean
  json?: boolean
}

const PHASES: Record<GcPhase, string> = { mark: 'marking reachable objects', scan: 'scanning the store', sweep: 'deleting', reclaim: 'reclaiming pack space' }

export const gcCommand = {
  command: 'gc',
  describe: 'Delete what nothing reaches (after applying retention and expiring old reflog entries); safe beside running jobs',
  builder: (y: Argv) =>
    y
      .option('prune', { type: 'string', default: '2w', describe: 'Keep unreachable objects younger than this (now, 2w, 12h, 2.weeks.ago, a date)' })
      .option('dry-run', { alias: 'n', type: 'boolean', describe: 'Print what would be freed; delete nothing' })
      .option('json', { type: 'boolean', describe: 'The result as one JSON object' })
      .example('$0 gc', 'free what has been unreachable for two weeks')
      .example('$0 gc --dry-run --prune=now', 'how much would go if nothing were kept for its age')
      .example('$0 gc --prune=now --json', 'free everything unreachable now, for scripts'),
  handler: async (args: Args) => {
    const age = await ageOption('--prune', args.prune ?? '2w')
    await withStore(args, async (store) => {
      const progress = new Progress('gc')
      const result = await progress.track(store.gc({
        prune: age === 0 ? 'now' : age,
        ...(args.dryRun && { dryRun: true }),
        onProgress: (phase, done) => progress.count(PHASES[phase], done),
      }))
      if (args.json) return jsonLine(result)
      for (const r of result.retention) {
        out.line(`retention: ${r.timeline} keeps ${r.kept} checkpoint(s), drops ${r.dropped}${r.cuts.length > 0 ? `, history cut at ${r.cuts.length}` : ''}`)
      }
      if (result.reflogEntriesExpired > 0) out.line(`expired ${result.reflogEntriesExpired} reflog entries`)
      const freed = `${result.freed.objects} object(s), ${humanSize(result.freed.bytes)}`
      if (result.dryRun) return out.line(`would free ${freed}; ${result.kept} reachable or recent object(s) stay`)
      out.line(`${green('freed')} ${freed}; ${result.kept} reachable or recent object(s) kept`)
      if (result.reclaimed.files > 0) out.line(`rewrote or removed ${result.reclaimed.files} pack file(s), ${humanSize(result.reclaimed.bytes)} given back`)
      if (result.historySegmentsWritten > 0) out.line(`wrote ${result.historySegmentsWritten} history segment(s) for histories that had none`)
    })
  },
}

import type { Argv } from 'yargs'
import type { RetentionPolicy, Store } from '../../src/index.js'
import { ageOption } from '../duration.js'
import { jsonLine, out } from '../output.js'
import { library, withStore } from '../store.js'

interface Args {
  store?: string
  timeline?: string
  keepLast?: number
  keepWithin?: string
  clear?: boolean
  json?: boolean
}

export const retentionCommand = {
  command: 'retention [timeline]',
  describe: 'Show or set how much of a timeline\'s history gc keeps',
  builder: (y: Argv) =>
    y
      .positional('timeline', { type: 'string', describe: 'Timeline whose policy to show or set' })
      .option('keep-last', { type: 'number', describe: 'Keep the newest N checkpoints' })
      .option('keep-within', { type: 'string', describe: 'Keep checkpoints younger than this (30d, 12h, 2w)' })
      .option('clear', { type: 'boolean', describe: 'Remove the policy (keep everything again)' })
      .option('json', { type: 'boolean', describe: 'Policies as JSON lines' })
      .example('$0 retention main --keep-last 100 --keep-within 30d', 'keep the last 100, and everything from the last 30 days')
      .example('$0 retention', 'list every policy')
      .example('$0 gc', 'apply the policies (tagged, pinned and other timelines\' checkpoints always stay)'),
  handler: async (args: Args) => {
    const { CkptError } = await library()
    await withStore(args, async (store) => {
      const setting = args.keepLast !== undefined || args.keepWithin !== undefined
      if (args.timeline === undefined && (setting || args.clear)) throw new CkptError('INVALID_ARGUMENT', 'name the timeline whose policy to change')
      if (args.timeline !== undefined && args.clear) {
        await store.retention.clear(args.timeline)
        return out.line(`Cleared the retention policy of ${args.timeline}`)
      }
      if (args.timeline !== undefined && setting) {
        const within = args.keepWithin === undefined ? undefined : await ageOption('--keep-within', args.keepWithin)
        const policy: RetentionPolicy = { ...(args.keepLast !== undefined && { keepLast: args.keepLast }), ...(within !== undefined && { keepWithinMs: within }) }
        await store.retention.set(args.timeline, policy)
        return out.line(`${args.timeline}: ${describe(policy)} (applied by ckpt gc)`)
      }
      const policies = args.timeline === undefined ? await store.retention.list() : await one(store, args.timeline)
      if (!args.json && args.timeline !== undefined && policies.length === 0) return out.line(`${args.timeline}: no policy (gc keeps its whole history)`)
      for (const { timeline, policy } of policies) {
        if (args.json) jsonLine({ timeline, ...policy })
        else out.line(`${timeline}: ${describe(policy)}`)
      }
    })
  },
}

async function one(store: Store, timeline: string): Promise<Array<{ timeline: string; policy: RetentionPolicy }>> {
  const policy = await store.retention.get(timeline)
  return policy ? [{ timeline, policy }] : []
}

function describe(policy: RetentionPolicy): string {
  const parts = []
  if (policy.keepLast !== undefined) parts.push(`keep the last ${policy.keepLast}`)
  if (policy.keepWithinMs !== undefined) parts.push(`keep what is younger than ${humanAge(policy.keepWithinMs)}`)
  return parts.join(', and ')
}

function humanAge(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000]] as const) if (ms >= size && ms % size === 0) return `${ms / size}${unit}`
  return `${ms / 1000}s`
}

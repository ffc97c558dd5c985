import type { Argv } from 'yargs'
import type { PickResult, Store } from '../../src/index.js'
import { checkpointJson } from '../format.js'
import { jsonLine, out, yellow } from '../output.js'
import { library, withStore } from '../store.js'

interface Args {
  store?: string
  rev: string
  timeline?: string
  message?: string
  force?: boolean
  json?: boolean
}

const options = (y: Argv, verb: string) =>
  y
    .positional('rev', { type: 'string', demandOption: true, describe: `The checkpoint to ${verb}` })
    .option('timeline', { alias: 't', type: 'string', describe: 'Timeline to record onto (default: the one HEAD is on)' })
    .option('message', { alias: 'm', type: 'string', describe: 'Message of the new checkpoint' })
    .option('force', { type: 'boolean', describe: 'Apply even to stages the timeline has changed since (their outputs are replaced)' })
    .option('json', { type: 'boolean', describe: 'The result as JSON: the new checkpoint and the stages changed' })

export const cherryPickCommand = {
  command: 'cherry-pick <rev>',
  describe: "Apply a checkpoint's stage changes (against its first parent) onto a timeline, as a new checkpoint",
  builder: (y: Argv) =>
    options(y, 'pick')
      .example('$0 cherry-pick strict', "apply strict's last change onto the timeline HEAD is on")
      .example('$0 cherry-pick 3f2a9c01 -t main', 'apply one checkpoint onto main')
      .epilogue(
        'Added and changed stages are copied, removed stages removed. A stage the timeline has changed since ' +
          "(its output is neither the picked checkpoint's parent's nor its own) is a conflict: nothing is written and ckpt exits 6, unless --force.",
      ),
  handler: (args: Args) => pick(args, 'cherry-pick', (store) => store.cherryPick(args.rev, pickOptions(args))),
}

export const revertCommand = {
  command: 'revert <rev>',
  describe: "Record a checkpoint undoing a checkpoint's stage changes (against its first parent)",
  builder: (y: Argv) =>
    options(y, 'revert')
      .example('$0 revert HEAD', 'undo the last checkpoint, keeping it in history')
      .example('$0 revert main~3 --json', 'undo an older one; print the new checkpoint as JSON')
      .epilogue("Changed stages get the parent's output back, added stages are removed, removed ones restored. A stage changed since is a conflict (exit 6) unless --force."),
  handler: (args: Args) => pick(args, 'revert', (store) => store.revert(args.rev, pickOptions(args))),
}

function pickOptions(args: Args) {
  return {
    ...(args.timeline !== undefined && { timeline: args.timeline }),
    ...(args.message !== undefined && { message: args.message }),
    ...(args.force && { force: true }),
  }
}

async function pick(args: Args, verb: string, apply: (store: Store) => Promise<PickResult>): Promise<void> {
  const { CkptError, isCkptError } = await library()
  const result = await withStore(args, apply).catch((err: unknown) => {
    if (!isCkptError(err, 'MERGE_CONFLICT')) throw err
    const conflicts = err.details.conflicts as Array<{ stage: string }>
    if (args.json) jsonLine({ applied: false, conflicts })
    const list = conflicts.map((c) => c.stage).join(', ')
    throw new CkptError('MERGE_CONFLICT', `${verb}: stage(s) changed on the timeline since: ${list}; nothing written. Give --force to apply anyway`, { details: err.details })
  })
  if (args.json) return jsonLine({ applied: result.stages.length > 0, ...result, checkpoint: checkpointJson(result.checkpoint) })
  const where = result.timeline ?? 'HEAD'
  if (result.stages.length === 0) return out.line(`nothing to ${verb}: ${where} already has those stage outputs`)
  out.line(`${yellow(result.checkpoint.shortId)} on ${where}: ${result.stages.join(', ')}`)
}

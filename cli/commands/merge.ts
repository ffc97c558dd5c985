import type { Argv } from 'yargs'
import { checkpointJson } from '../format.js'
import { jsonLine, out, yellow } from '../output.js'
import { library, withStore } from '../store.js'

interface Args {
  store?: string
  rev: string
  timeline?: string
  message?: string
  ours?: boolean
  theirs?: boolean
  stage?: string[]
  ff?: boolean
  json?: boolean
}

export const mergeCommand = {
  command: 'merge <rev>',
  describe: 'Merge REV into a timeline: a checkpoint with two parents (or a fast-forward), stage conflicts listed',
  builder: (y: Argv) =>
    y
      .positional('rev', { type: 'string', demandOption: true, describe: 'The revision to merge in (a timeline, tag, id, …)' })
      .option('timeline', { alias: 't', type: 'string', describe: 'Timeline to merge into (default: the one HEAD is on)' })
      .option('message', { alias: 'm', type: 'string', describe: 'Message (default: "Merge REV into TIMELINE")' })
      .option('ours', { type: 'boolean', describe: "Resolve every conflicting stage with the timeline's own output" })
      .option('theirs', { type: 'boolean', describe: "Resolve every conflicting stage with REV's output" })
      .option('stage', { type: 'string', array: true, describe: "STAGE=REV: take STAGE's output from REV (repeatable)" })
      .option('ff', { type: 'boolean', default: true, describe: 'Move the timeline forward when it is behind REV (--no-ff: record a merge checkpoint anyway)' })
      .option('json', { type: 'boolean', describe: 'The result as JSON (on a conflict: the conflicting stages)' })
      .example('$0 merge strict', 'merge timeline strict into the one HEAD is on')
      .example('$0 merge strict --theirs', "take strict's output for every stage changed on both sides")
      .example('$0 merge strict --stage detect=main~2', "take detect's output from main~2")
      .example('$0 merge main -t experiment --no-ff', 'bring main into experiment as a merge checkpoint')
      .epilogue('A stage changed on both sides since the merge base to different outputs is a conflict: nothing is written and ckpt exits 6, listing them.'),
  handler: async (args: Args) => {
    const { CkptError, isCkptError, shortIdOf } = await library()
    if (args.ours && args.theirs) throw new CkptError('INVALID_ARGUMENT', 'give --ours or --theirs, not both')
    const stages: Record<string, string> = {}
    for (const given of args.stage ?? []) {
      const eq = given.indexOf('=')
      if (eq <= 0 || eq === given.length - 1) throw new CkptError('INVALID_ARGUMENT', `--stage "${given}": give STAGE=REV`, { details: { value: given } })
      stages[given.slice(0, eq)] = given.slice(eq + 1)
    }
    const result = await withStore(args, (store) =>
      store.merge(args.rev, {
        stages,
        fastForward: args.ff !== false,
        ...(args.timeline !== undefined && { timeline: args.timeline }),
        ...(args.message !== undefined && { message: args.message }),
        ...(args.ours && { resolve: 'ours' as const }),
        ...(args.theirs && { resolve: 'theirs' as const }),
      }),
    ).catch((err: unknown) => {
      if (!isCkptError(err, 'MERGE_CONFLICT')) throw err
      const conflicts = err.details.conflicts as Array<{ stage: string }>
      if (args.json) jsonLine({ merged: false, conflicts })
      const list = conflicts.map((c) => c.stage).join(', ')
      throw new CkptError('MERGE_CONFLICT', `merge: stage(s) changed on both sides since the merge base: ${list}; nothing written. Resolve with --ours, --theirs or --stage STAGE=REV`, { details: err.details })
    })
    if (args.json) {
      const { kind, checkpoint, resolved, ...rest } = result
      return jsonLine({ result: kind, ...rest, checkpoint: checkpointJson(checkpoint), resolved })
    }
    const where = result.timeline ?? 'HEAD'
    if (result.kind === 'up-to-date') return out.line(`Already up to date: ${where} has ${args.rev}`)
    if (result.kind === 'fast-forward') return out.line(`Fast-forward ${where} to ${yellow(result.checkpoint.shortId)} (${args.rev})`)
    out.line(`Merged ${args.rev} into ${where}: ${yellow(result.checkpoint.shortId)}${result.base ? ` (merge base ${shortIdOf(result.base)})` : ''}`)
    for (const r of result.resolved) out.line(`  conflict in ${r.stage}: took ${r.take === 'revision' ? `the output named by --stage` : r.take === 'ours' ? `${where}'s output` : `${args.rev}'s output`}`)
  },
}

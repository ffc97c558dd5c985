import type { Argv } from 'yargs'
import { green, jsonLine, out, red } from '../output.js'
import { Progress } from '../progress.js'
import { findStoreDir, library, withStore } from '../store.js'
import type { RepairResult } from '../../src/index.js'

/** Exit status when fsck found a problem, as a failed check. */
export const FSCK_PROBLEMS_EXIT = 1

export const fsckCommand = {
  command: 'fsck',
  describe: 'Verify every object reachable from every ref and reflog entry; --repair puts damaged refs back',
  builder: (y: Argv) =>
    y
      .option('quick', { type: 'boolean', describe: 'Check that bytes exist without re-hashing them' })
      .option('repair', { type: 'boolean', describe: 'Move only timelines and tags whose own checkpoint or outputs are damaged, to their newest intact reflog entry; cut damaged older history (deletes nothing). Without it, fsck lists what --repair would do' })
      .option('cut-journal', {
        type: 'boolean',
        implies: 'repair',
        describe: 'With --repair, cut a damaged write journal at the damage: the writes recorded after it are dropped (their bytes kept in a file beside it)',
      })
      .option('json', { type: 'boolean', describe: 'The report as one JSON object' })
      .example('$0 fsck', 'is everything intact? exit 1 if not')
      .example('$0 fsck --repair', 'move damaged refs back to an intact checkpoint')
      .example('$0 fsck --json | jq .problems', 'for monitoring'),
  handler: async (args: { store?: string; quick?: boolean; repair?: boolean; cutJournal?: boolean; json?: boolean }) => {
    const journalCut = args.cutJournal ? await cutDamagedJournal(args) : undefined
    if (args.repair) await rebuildIfDamaged(args)
    await withStore(args, async (store) => {
      const progress = new Progress('fsck')
      const report = await progress.track(store.fsck({ ...(args.quick && { quick: true }), onProgress: (done, known) => progress.update(done, known) }))
      const plan = !args.repair && !report.ok ? await store.repair({ dryRun: true }) : undefined
      const repaired = args.repair && !report.ok ? await store.repair() : undefined
      const after = repaired && repaired.restored.length + repaired.cut.length > 0 ? await store.fsck({ ...(args.quick && { quick: true }) }) : undefined
      if (args.json) jsonLine({ ...report, ...(journalCut && { journalCut }), ...(plan && { plan }), ...(repaired && { repaired, after }) })
      else {
        for (const p of report.problems) out.line(`${red(p.kind.padEnd(8))} ${p.message} (reached from ${p.ref})`)
        if (!report.storageChecked) out.line('the storage check was skipped: this backend offers none')
        out.line(`checked ${report.checked.refs} refs, ${report.checked.checkpoints} checkpoints, ${report.checked.objects} objects: ${report.ok ? green('no problems') : red(`${report.problems.length} problem(s)`)}`)
        if (plan) printRepair(plan, true)
        if (repaired) printRepair(repaired, false)
        if (after) out.line(`after repair: ${after.ok ? green('no problems') : red(`${after.problems.length} problem(s) remain`)}`)
      }
      if (!(after ?? report).ok) process.exitCode = FSCK_PROBLEMS_EXIT
    })
  },
}

/** With --repair, a database that no longer opens is first rebuilt from what remains. */
async function rebuildIfDamaged(args: { store?: string; json?: boolean }): Promise<void> {
  const { openStore, repairStoreDatabase } = await library()
  const dir = await findStoreDir(args.store)
  const damaged = await openStore(dir).then(
    async (store) => {
      await store.close()
      return false
    },
    (err: { details?: { damaged?: unknown } }) => {
      if (err.details?.damaged !== true) throw err
      return true
    },
  )
  if (!damaged) return
  await repairStoreDatabase(dir)
  if (!args.json) out.line('rebuilt the damaged database from the files that remain; checking what was lost')
}

/**
 * With --cut-journal, a write journal damaged before its end is cut there. Without it, opening
 * the store fails with CORRUPT_OBJECT naming the journal, the offset and the bytes a cut would drop.
 */
async function cutDamagedJournal(args: { store?: string; json?: boolean }) {
  const lib = await library()
  const cuts = await lib.cutDamagedJournal(await findStoreDir(args.store))
  if (!args.json) {
    for (const c of cuts) out.line(red(`cut the write journal ${c.path} at byte ${c.offset}: the ${c.droppedBytes} bytes from there on, acknowledged writes, are dropped (kept in ${c.savedTo})`))
    if (cuts.length === 0) out.line('the write journal is intact; nothing cut')
  }
  return cuts
}

/** One line per ref: what --repair did, or (a plan) what it would do. */
function printRepair(result: RepairResult, plan: boolean): void {
  const [restore, keep, cant] = plan ? ['--repair would move', '--repair would keep', '--repair could not repair'] : ['restored', 'kept', 'could not repair']
  for (const r of result.restored) out.line(`${restore} ${r.ref}: ${r.from} → ${r.to}`)
  for (const c of result.cut) out.line(`${keep} ${c.ref}, ${plan ? 'cutting' : 'its'} history ${plan ? '' : 'cut '}below damaged older checkpoints, at ${c.at.join(', ')}`)
  for (const ref of result.unrecoverable) out.line(red(`${cant} ${ref}: no intact checkpoint in its reflog`))
}

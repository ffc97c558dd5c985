import type { Argv } from 'yargs'
import { bold, dim, humanSize, humanTime, jsonLine, out, yellow } from '../output.js'
import { printable } from '../format.js'
import { library, withStore, withoutPasswords } from '../store.js'

export const statusCommand = {
  command: 'status',
  describe: 'Show the store, where HEAD is, and the stages its checkpoint holds',
  builder: (y: Argv) =>
    y
      .option('json', { type: 'boolean', describe: 'As one JSON object (for pipelines in other languages)' })
      .example('$0 status', 'where am I?')
      .example('$0 status --json | jq .stages', 'the stage outputs HEAD holds, for scripts'),
  handler: async (args: { store?: string; json?: boolean }) => {
    const { shortIdOf, statusReport } = await library()
    await withStore(args, async (store, dir) => {
      const report = await statusReport(store, withoutPasswords(dir))
      if (args.json) return jsonLine(report)
      const { head, checkpoint, stages } = report
      out.line(`Store: ${withoutPasswords(dir)}`)
      if (head.detached) out.line(`HEAD detached at ${yellow(shortIdOf(head.checkpoint as string))}`)
      else out.line(`On timeline ${bold(head.timeline ?? '?')}${checkpoint ? '' : ' (no checkpoints yet)'}`)
      if (!checkpoint) return
      out.line(`Checkpoint ${yellow(shortIdOf(checkpoint.id))}  ${checkpoint.stage ?? '-'}${checkpoint.run ? `  run ${printable(checkpoint.run)}` : ''}  ${dim(humanTime(checkpoint.time))}`)
      out.line(`\n${stages.length} stage(s):`)
      const width = Math.max(...stages.map((s) => s.stage.length))
      for (const s of stages) out.line(`  ${s.stage.padEnd(width)}  ${s.kind.padEnd(5)}  ${humanSize(s.size).padStart(10)}  ${dim(s.id)}`)
    })
  },
}

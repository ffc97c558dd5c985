import type { Argv } from 'yargs'
import { decorationsFor, longText } from '../format.js'
import { dim, humanSize, jsonLine, out } from '../output.js'
import { library, withStore } from '../store.js'
import { catCommand } from './cat.js'

interface Args {
  store?: string
  rev: string
  json?: boolean
}

export const showCommand = {
  command: 'show [rev]',
  describe: 'Show one checkpoint: every field, and each stage with its output id, kind, size and whether it changed',
  builder: (y: Argv) =>
    y
      .positional('rev', { type: 'string', default: 'HEAD' })
      .option('json', { type: 'boolean', describe: 'The checkpoint and its stages as one JSON object' })
      .example('$0 show', 'the checkpoint HEAD is on')
      .example('$0 show main~2 --json', 'for scripts')
      .example('$0 show HEAD:agent_log', 'one stage output (a log tail or git diff as text)'),
  handler: async (args: Args) => {
    // Ref names cannot hold ':', so one here is REV:STAGE: the output itself, as `cat` prints it
    // (a log tail or git diff as text, bytes as they are), like `git show REV:PATH`.
    if (args.rev.includes(':')) return catCommand.handler({ ...args, spec: args.rev })
    await withStore(args, async (store) => {
      const { checkpointReport } = await library()
      const { stageOutputs: stages, ...checkpoint } = await checkpointReport(store, args.rev)
      if (args.json) return jsonLine({ ...checkpoint, stageOutputs: stages })
      const [head, timelines, tags] = await Promise.all([store.head(), store.timelines.list(), store.tags.list()])
      const { shortIdOf } = await library()
      for (const line of longText(checkpoint, decorationsFor(head, timelines, tags), shortIdOf)) out.line(line)
      if (checkpoint.config !== undefined) out.line(`Config: ${JSON.stringify(checkpoint.config)}`)
      if (Object.keys(checkpoint.meta).length > 0) out.line(`Meta:   ${JSON.stringify(checkpoint.meta)}`)
      if (checkpoint.parents.length > 0) out.line(`Parents: ${checkpoint.parents.join(' ')}`)
      out.line('')
      const width = Math.max(5, ...stages.map((s) => s.stage.length))
      out.line(dim(`${'stage'.padEnd(width)}  ${'kind'.padEnd(5)}  ${'size'.padStart(10)}  output id`))
      for (const s of stages) {
        const files = s.files === undefined ? '' : `  ${s.files} files`
        out.line(`${s.stage.padEnd(width)}  ${s.kind.padEnd(5)}  ${humanSize(s.size).padStart(10)}  ${s.id}${files}${s.changed ? '  (changed)' : ''}`)
      }
    })
  },
}

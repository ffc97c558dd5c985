#!/usr/bin/env node
import { hideBin } from 'yargs/helpers'
import { catCommand } from './commands/cat.js'
import { checkoutCommand } from './commands/checkout.js'
import { mergeCommand } from './commands/merge.js'
import { cherryPickCommand, revertCommand } from './commands/pick.js'
import { resetCommand } from './commands/reset.js'
import { blameCommand } from './commands/blame.js'
import { duCommand } from './commands/du.js'
import { commitCommand } from './commands/commit.js'
import { COMPLETE_REQUEST, answerCompletion, completionCommand } from './completion.js'
import { diffCommand } from './commands/diff.js'
import { fsckCommand } from './commands/fsck.js'
import { gcCommand } from './commands/gc.js'
import { exportCommand, importCommand } from './commands/car.js'
import { cloneCommand, fetchCommand, pullCommand, pushCommand, remoteCommand } from './commands/remote.js'
import { pinCommand, unpinCommand } from './commands/pin.js'
import { retentionCommand } from './commands/retention.js'
import { initCommand } from './commands/init.js'
import { logCommand } from './commands/log.js'
import { auditCommand, planCommand, replayCommand, resumeCommand, runCommand } from './commands/pipeline.js'
import { logsCommand } from './commands/logs.js'
import { reflogCommand } from './commands/reflog.js'
import { runsCommand } from './commands/runs.js'
import { serveCommand } from './commands/serve.js'
import { restoreCommand } from './commands/restore.js'
import { revParseCommand } from './commands/rev-parse.js'
import { showCommand } from './commands/show.js'
import { statusCommand } from './commands/status.js'
import { tagCommand } from './commands/tag.js'
import { timelineCommand } from './commands/timeline.js'
import { reportError, reportUsage } from './errors.js'
import { checkArguments, expandCountShorthand } from './arguments.js'
import { yargs } from './yargs.js'
import { out } from './output.js'

const debug = process.argv.includes('--debug')

// `ckpt log | head`: the reader left; stop quietly, as git does.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0)
  throw err
})

async function fail(err: unknown): Promise<never> {
  await out.finish()
  process.exit(reportError(err, debug))
}

// A TAB in the shell: answered before any parsing, so that no command ever runs (cli/completion.ts).
if (process.argv[2] === COMPLETE_REQUEST) await answerCompletion(process.argv.slice(3))

await yargs(expandCountShorthand(hideBin(process.argv)))
  .scriptName('ckpt')
  .usage('$0 <command> [options]\n\nA git-style, content-addressed checkpoint store for pipelines.')
  .option('store', { type: 'string', describe: 'Store folder or URL (postgres://…) (default: $CKPT_DIR, else the nearest .ckpt/ above the working directory)', global: true })
  .option('pager', { type: 'boolean', describe: 'Page long output on a terminal (--no-pager to turn off)', global: true, default: true, hidden: true })
  .option('debug', { type: 'boolean', describe: 'Show stack traces on errors', global: true })
  .command(initCommand)
  .command(commitCommand)
  .command(logCommand)
  .command(showCommand)
  .command(catCommand)
  .command(diffCommand)
  .command(timelineCommand)
  .command(tagCommand)
  .command(checkoutCommand)
  .command(restoreCommand)
  .command(mergeCommand)
  .command(cherryPickCommand)
  .command(revertCommand)
  .command(resetCommand)
  .command(blameCommand)
  .command(duCommand)
  .command(statusCommand)
  .command(reflogCommand)
  .command(revParseCommand)
  .command(runCommand)
  .command(resumeCommand)
  .command(replayCommand)
  .command(planCommand)
  .command(auditCommand)
  .command(runsCommand)
  .command(logsCommand)
  .command(serveCommand)
  .command(fsckCommand)
  .command(gcCommand)
  .command(exportCommand)
  .command(importCommand)
  .command(remoteCommand)
  .command(pushCommand)
  .command(fetchCommand)
  .command(pullCommand)
  .command(cloneCommand)
  .command(retentionCommand)
  .command(pinCommand)
  .command(unpinCommand)
  .command(completionCommand)
  .demandCommand(1, 'name a command')
  .recommendCommands()
  .strict()
  .parserConfiguration({ 'populate--': true })
  .check(checkArguments, true)
  .updateStrings({ 'Did you mean %s?': 'not a ckpt command; did you mean %s?' })
  .example('$0 init && $0 commit -s detect --json \'{"n": 1}\'', 'create a store and record a first checkpoint')
  .example('$0 log --graph --all --oneline', 'every timeline at a glance')
  .example('$0 diff main experiment', 'what changed between two timelines')
  .epilogue('Exit codes: 0 ok, 1 differences (diff --exit-code) or problems (fsck), 2 usage, 3 store, 4 not found, 5 ambiguous, 6 conflict, 7 would overwrite, 8 corrupt, 9 I/O, 10 a pipeline stage failed. See docs/cli.md.')
  .fail((message, err) => {
    // A command's .check() reports a usage error by returning its message (yargs passes it as `err` too).
    if (err instanceof Error) return void fail(err)
    process.exit(reportUsage(message))
  })
  .help()
  .version()
  .wrap(Math.min(110, process.stdout.columns ?? 110))
  .parseAsync()
  .then(() => out.finish())
  .catch(fail)

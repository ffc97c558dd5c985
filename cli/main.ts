#!/usr/bin/env node
import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'
import { CkptError } from '../src/index.js'
import { commitCommand } from './commands/commit.js'
import { initCommand } from './commands/init.js'
import { logCommand } from './commands/log.js'
import { revParseCommand } from './commands/rev-parse.js'
import { EXIT_CODES, INTERNAL_EXIT, USAGE_EXIT } from './exit-codes.js'

const debug = process.argv.includes('--debug')

function fail(err: unknown): never {
  if (err instanceof CkptError) {
    process.stderr.write(`ckpt: error: ${err.message}\n`)
    if (debug) process.stderr.write(`${err.stack ?? ''}\n`)
    process.exit(EXIT_CODES[err.code])
  }
  process.stderr.write(`ckpt: internal error: ${err instanceof Error ? (debug ? err.stack : err.message) : String(err)}\n`)
  process.exit(INTERNAL_EXIT)
}

await yargs(hideBin(process.argv))
  .scriptName('ckpt')
  .usage('$0 <command> [options]\n\nA git-style, content-addressed checkpoint store for pipelines.')
  .option('store', { type: 'string', describe: 'Store folder (default: $CKPT_DIR, else the nearest .ckpt/ above the working directory)', global: true })
  .option('json', { type: 'boolean', describe: 'Machine-readable output', global: true })
  .option('debug', { type: 'boolean', describe: 'Show stack traces on errors', global: true })
  .command(initCommand)
  .command(commitCommand)
  .command(logCommand)
  .command(revParseCommand)
  .demandCommand(1, 'name a command; see ckpt --help')
  .strict()
  .example('$0 init && $0 commit -s detect --value \'{"n": 1}\'', 'create a store and record a first checkpoint')
  .example('$0 log --oneline', 'the history of the current timeline')
  .fail((message, err) => {
    if (err) fail(err)
    process.stderr.write(`ckpt: error: ${message}\n(see ckpt --help)\n`)
    process.exit(USAGE_EXIT)
  })
  .help()
  .version()
  .parseAsync()
  .catch(fail)

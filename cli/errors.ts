import { EXIT_CODES, INTERNAL_EXIT, USAGE_EXIT } from './exit-codes.js'
import { withoutPasswords } from './store.js'

/** The library's option names as the flags a CLI user types. */
const FLAG_FOR_OPTION: ReadonlyArray<readonly [RegExp, string]> = [
  [/\buse force\b/g, 'use --force'],
  [/\bkeepLast\b/g, '--keep-last'],
  [/\bkeepWithinMs\b/g, '--keep-within'],
]

/** A library message in a CLI user's words: flags, not option names; no passwords. */
export function inUserWords(message: string): string {
  return FLAG_FOR_OPTION.reduce((text, [option, flag]) => text.replace(option, flag), withoutPasswords(message))
}

/** Whether errors are to be written as JSON: the command was given `--json` as a switch. */
let jsonErrors = process.argv.includes('--json')

/**
 * Called once the command line is parsed: `commit --json VALUE` (a JSON literal) is not the
 * switch; a bare `commit --json` (parsed as '') is.
 */
export function setJsonErrors(parsedJson: unknown): void {
  jsonErrors = parsedJson === true || parsedJson === ''
}

/**
 * Writes one error to stderr, as `ckpt: error: …` or, with `--json`, as one JSON line
 * `{"error": {"code", "message"}}`; returns the exit status to end with.
 */
export function reportError(err: unknown, debug: boolean): number {
  const code = (err as { code?: unknown }).code
  const known = err instanceof Error && err.name === 'CkptError' && typeof code === 'string' && code in EXIT_CODES
  const message = inUserWords(err instanceof Error ? err.message : String(err))
  const status = known ? EXIT_CODES[code as keyof typeof EXIT_CODES] : INTERNAL_EXIT
  if (jsonErrors) process.stderr.write(`${JSON.stringify({ error: { code: known ? code : 'INTERNAL', message, exit: status } })}\n`)
  else process.stderr.write(known ? `ckpt: error: ${message}\n` : `ckpt: internal error: ${message}\n`)
  if (debug && err instanceof Error) process.stderr.write(`${withoutPasswords(err.stack ?? '')}\n`)
  return status
}

/** A usage error (bad flags, unknown command) in the same two forms; exit 2. */
export function reportUsage(message: string): number {
  if (jsonErrors) process.stderr.write(`${JSON.stringify({ error: { code: 'USAGE', message, exit: USAGE_EXIT } })}\n`)
  else process.stderr.write(`ckpt: error: ${message}\n(see ckpt --help)\n`)
  return USAGE_EXIT
}

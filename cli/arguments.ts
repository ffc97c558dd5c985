import { CkptError } from '../src/errors.js'
import { setJsonErrors } from './errors.js'

/** Commands that take names after `--`: stages (`ckpt log -- detect`, `ckpt diff A B -- report`), refs (`ckpt reflog expire -- exp`). */
const TAKES_NAMES_AFTER_DASHES = new Set(['log', 'diff', 'reflog'])

/**
 * Checks every parsed command line before its command runs, so that no argument is silently
 * ignored: a number flag given a word (`-n abc`) and words after `--` where the command takes
 * none are refused naming the value.
 */
export function checkArguments(argv: Record<string, unknown>): true {
  setJsonErrors(argv.json)
  const command = String((argv._ as unknown[] | undefined)?.[0] ?? '')
  for (const [key, value] of Object.entries(argv)) {
    if (typeof value === 'number' && Number.isNaN(value)) {
      const flag = flagAsTyped(key)
      throw new CkptError('INVALID_ARGUMENT', `${flag} ${valueAfter(flag) ?? ''}: not a number`.replace(' :', ':'), { details: { flag } })
    }
  }
  const afterDashes = (argv['--'] as unknown[] | undefined) ?? []
  if (afterDashes.length > 0 && !TAKES_NAMES_AFTER_DASHES.has(command)) {
    throw new CkptError('INVALID_ARGUMENT', `ckpt ${command} takes nothing after --: ${afterDashes.join(' ')}`, { details: { extra: afterDashes.map(String) } })
  }
  return true
}

/** The flag as the user typed it (`-n` or `--max-count`) for a parsed key (`n`, `maxCount`). */
function flagAsTyped(key: string): string {
  const kebab = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
  const forms = key.length === 1 ? [`-${key}`] : [`--${kebab}`, `--${key}`]
  return process.argv.find((arg) => forms.some((f) => arg === f || arg.startsWith(`${f}=`)))?.split('=')[0] ?? forms[0] as string
}

function valueAfter(flag: string): string | undefined {
  const at = process.argv.findIndex((arg) => arg === flag || arg.startsWith(`${flag}=`))
  if (at < 0) return undefined
  const arg = process.argv[at] as string
  return arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : process.argv[at + 1]
}

/**
 * git's `log -3` for `log -n 3`, rewritten before parsing (a parser reads `-3` as a flag named
 * "3"); only for `log`, and only before `--`, so that `commit --json -3` keeps its JSON number.
 */
export function expandCountShorthand(args: readonly string[]): string[] {
  const command = args.findIndex((a) => !a.startsWith('-'))
  if (args[command] !== 'log') return [...args]
  const dashes = args.indexOf('--')
  return args.flatMap((arg, i) => (i > command && (dashes === -1 || i < dashes) && /^-\d+$/.test(arg) ? ['-n', arg.slice(1)] : [arg]))
}

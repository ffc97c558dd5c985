import { readdir } from 'node:fs/promises'
import type { Argv } from 'yargs'
import { BASH_SCRIPT, FILES, ZSH_SCRIPT } from './completion-scripts.js'
import { out } from './output.js'
import { findStoreDir, library } from './store.js'
import { yargs } from './yargs.js'

/**
 * Shell completion. `ckpt completion` prints a bash or zsh script; on TAB the script runs
 * `ckpt __complete WORD…` (answered by {@link answerCompletion}) and shows what it prints: one
 * candidate a line, or {@link FILES} where a file name is wanted. It is answered before yargs
 * parses anything: yargs 17's completion hook cannot wait for the store under `.strict()` (it
 * reports the hook's flag as an unknown argument), and no command handler may ever run on a TAB. The
 * candidates are command names, the options of the command being typed (as they are typed on a
 * command line), revisions (HEAD, timelines, tags) where a revision goes, and stages after `REV:`.
 * Nothing is offered where nothing fits: never file names in place of a revision.
 */

/** The first argument of a completion request, as the scripts send it. */
export const COMPLETE_REQUEST = '__complete'

/** Past this, a TAB gets no candidates rather than a wait. */
const ANSWER_WITHIN_MS = 3000


/** Options every command takes (cli/main.ts). */
const GLOBAL_OPTIONS: readonly OptionInfo[] = [
  { names: ['--store'], takesValue: true, key: 'store' },
  { names: ['--debug'], takesValue: false, key: 'debug' },
  { names: ['--no-pager'], takesValue: false, key: 'pager' },
  { names: ['--help'], takesValue: false, key: 'help' },
  { names: ['--version'], takesValue: false, key: 'version' },
]

/** What goes in a positional or an option value, by its name. */
type Kind = 'revision' | 'timeline' | 'stage' | 'remote' | 'file' | 'none'

const POSITIONAL_KINDS: Readonly<Record<string, Kind>> = {
  rev: 'revision',
  revs: 'revision',
  spec: 'revision',
  from: 'revision',
  to: 'revision',
  ref: 'revision',
  refs: 'revision',
  timeline: 'timeline',
  timelines: 'timeline',
  remote: 'remote',
  file: 'file',
  source: 'file',
  dir: 'file',
  location: 'file',
}

const OPTION_KINDS: Readonly<Record<string, Kind>> = {
  parent: 'revision',
  from: 'revision',
  timeline: 'timeline',
  stage: 'stage',
  store: 'file',
  file: 'file',
  dir: 'file',
  to: 'file',
  output: 'file',
}

interface OptionInfo {
  /** As typed: `--max-count`, `-n`. */
  readonly names: readonly string[]
  readonly takesValue: boolean
  readonly key: string
  readonly choices?: readonly string[]
}

interface CommandInfo {
  readonly names: readonly string[]
  readonly positionals: ReadonlyArray<{ readonly name: string; readonly variadic: boolean; readonly choices?: readonly string[] }>
  readonly options: readonly OptionInfo[]
}

interface YargsOptions {
  readonly key: Readonly<Record<string, unknown>>
  readonly alias: Readonly<Record<string, string[]>>
  readonly boolean: readonly string[]
  readonly count: readonly string[]
  readonly hiddenOptions: readonly string[]
  readonly choices: Readonly<Record<string, string[]>>
}

interface CommandModuleLike {
  readonly command: string
  readonly aliases?: readonly string[]
  readonly builder?: (y: Argv) => unknown
}

export const completionCommand = {
  command: 'completion [shell]',
  describe: 'Print a bash or zsh completion script (add `source <(ckpt completion)` to ~/.bashrc, or its zsh form to ~/.zshrc)',
  builder: (y: Argv) =>
    y
      .positional('shell', { choices: ['bash', 'zsh'] as const, describe: 'The shell (default: the one $SHELL names, else bash)' })
      .example('$0 completion >> ~/.bashrc', 'complete commands, options, timelines, tags and stages in bash')
      .example('$0 completion zsh > "${fpath[1]}/_ckpt"', 'the same in zsh'),
  handler: (args: { shell?: 'bash' | 'zsh' }) => {
    const shell = args.shell ?? (/zsh/.test(process.env.SHELL ?? '') ? 'zsh' : 'bash')
    out.line(shell === 'zsh' ? ZSH_SCRIPT : BASH_SCRIPT)
  },
}

/**
 * Prints the candidates for the last of `words` (the command line up to the cursor, `ckpt`
 * first), one a line, and exits. Never fails: a missing or unreadable store offers nothing.
 */
export async function answerCompletion(words: readonly string[]): Promise<never> {
  const current = words.at(-1) ?? ''
  // A store that does not answer (a server down) must not hang the shell.
  const timeout = new Promise<string[]>((resolve) => setTimeout(() => resolve([]), ANSWER_WITHIN_MS).unref())
  const found = await Promise.race([candidates(words.slice(1, -1), current).catch(() => []), timeout])
  process.stdout.write(found.map((c) => `${c}\n`).join(''), () => process.exit(0))
  return new Promise<never>(() => undefined)
}

async function candidates(before: readonly string[], current: string): Promise<string[]> {
  const commands = await knownCommands()
  const place = whereAmI(before, commands)
  if (place.afterDoubleDash) return []
  const command = place.command
  const options = [...GLOBAL_OPTIONS, ...(command?.options ?? [])]
  if (place.valueOf) {
    const option = options.find((o) => o.names.includes(place.valueOf as string))
    if (option?.choices) return startingWith(option.choices, current)
    return offer(OPTION_KINDS[option?.key ?? ''] ?? 'none', current, place.store)
  }
  if (current.startsWith('-')) return startingWith(options.flatMap((o) => o.names), current)
  if (!command) return startingWith(commands.flatMap((c) => c.names), current)
  const positional = command.positionals[Math.min(place.positionals, command.positionals.length - 1)]
  if (!positional || (place.positionals >= command.positionals.length && !positional.variadic)) return []
  if (positional.choices) return startingWith(positional.choices, current)
  return offer(POSITIONAL_KINDS[positional.name] ?? 'none', current, place.store)
}

interface Place {
  readonly command: CommandInfo | undefined
  /** Positionals already given to the command. */
  readonly positionals: number
  /** The option whose value the current word is. */
  readonly valueOf: string | undefined
  readonly afterDoubleDash: boolean
  readonly store: string | undefined
}

/** Reads the words before the current one as yargs would: the command, its positionals so far, a pending option value. */
function whereAmI(before: readonly string[], commands: readonly CommandInfo[]): Place {
  let command: CommandInfo | undefined
  let positionals = 0
  let valueOf: string | undefined
  let store: string | undefined
  for (const word of before) {
    if (valueOf !== undefined) {
      if (valueOf === '--store') store = word
      valueOf = undefined
      continue
    }
    if (word === '--') return { command, positionals, valueOf: undefined, afterDoubleDash: true, store }
    if (word.startsWith('-') && word !== '-') {
      const [name, inline] = word.split('=', 2) as [string, string | undefined]
      if (name === '--store' && inline !== undefined) store = inline
      const option = [...GLOBAL_OPTIONS, ...(command?.options ?? [])].find((o) => o.names.includes(name))
      if (option?.takesValue && inline === undefined) valueOf = name
      continue
    }
    if (!command) command = commands.find((c) => c.names.includes(word))
    else positionals++
  }
  return { command, positionals, valueOf, afterDoubleDash: false, store }
}

function startingWith(words: readonly string[], current: string): string[] {
  return [...new Set(words.filter((w) => w.startsWith(current)))]
}

async function offer(kind: Kind, current: string, store: string | undefined): Promise<string[]> {
  if (kind === 'file') return [FILES]
  if (kind === 'none') return []
  return startingWith(await fromStore(kind, current, store), current)
}

/** What the store holds for `kind`; nothing when there is no store or it cannot be read. */
async function fromStore(kind: Exclude<Kind, 'file' | 'none'>, current: string, given: string | undefined): Promise<string[]> {
  const dir = await findStoreDir(given)
  const { openStore } = await library()
  const store = await openStore(dir)
  try {
    if (kind === 'remote') return (await store.remotes.list()).map((r) => r.name)
    const timelines = (await store.timelines.list()).map((t) => t.name)
    if (kind === 'timeline') return timelines
    if (kind === 'stage') return Object.keys((await store.getCheckpoint('HEAD')).stages)
    const colon = current.indexOf(':')
    if (colon >= 0) {
      const rev = current.slice(0, colon)
      return Object.keys((await store.getCheckpoint(rev === '' ? 'HEAD' : rev)).stages).map((stage) => `${rev}:${stage}`)
    }
    const tags = (await store.tags.list()).map((t) => t.name)
    return ['HEAD', ...timelines, ...tags]
  } finally {
    await store.close()
  }
}

/** Every command module in cli/commands (and this one), read from their builders: new commands complete without a list to keep. */
async function knownCommands(): Promise<CommandInfo[]> {
  const folder = new URL('./commands/', import.meta.url)
  const files = (await readdir(folder)).filter((f) => f.endsWith('.js'))
  const modules = await Promise.all(files.map((f) => import(new URL(f, folder).href) as Promise<Record<string, unknown>>))
  const found = modules.flatMap((m) => Object.values(m)).filter(isCommandModule)
  return [...found, completionCommand].map(describeCommand)
}

function isCommandModule(value: unknown): value is CommandModuleLike {
  return typeof value === 'object' && value !== null && typeof (value as { command?: unknown }).command === 'string'
}

function describeCommand(module: CommandModuleLike): CommandInfo {
  const [name, ...params] = module.command.split(' ') as [string, ...string[]]
  const positionals = params.map((p) => ({ name: p.replace(/[<>[\].]/g, ''), variadic: p.includes('..') }))
  const y = yargs([])
  module.builder?.(y)
  // yargs 17 keeps what the builder declared here (untyped in @types/yargs).
  const meta = (y as unknown as { getOptions(): YargsOptions }).getOptions()
  const positionalNames = new Set(positionals.map((p) => p.name))
  const aliasOf = new Set(Object.values(meta.alias).flat())
  const options: OptionInfo[] = Object.keys(meta.key)
    .filter((key) => !positionalNames.has(key) && !aliasOf.has(key) && key !== 'help' && key !== 'version' && !meta.hiddenOptions.includes(key))
    .map((key) => ({
      key,
      names: [key, ...(meta.alias[key] ?? [])].map((n) => (n.length === 1 ? `-${n}` : `--${n}`)),
      takesValue: !meta.boolean.includes(key) && !meta.count.includes(key),
      ...(meta.choices[key] && { choices: meta.choices[key] }),
    }))
  return {
    names: [name, ...(module.aliases ?? [])],
    positionals: positionals.map((p) => ({ ...p, ...(meta.choices[p.name] && { choices: meta.choices[p.name] }) })),
    options,
  }
}

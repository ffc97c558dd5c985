import { readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { CKPT } from './support/cli.js'
import { inTerminal, shellQuote } from './support/terminal.js'
import { tempDir } from './support/temp.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const commandsDir = path.join(root, 'cli/commands')
const sources = [path.join(root, 'cli/main.ts'), path.join(root, 'cli/completion.ts'), ...readdirSync(commandsDir).map((f) => path.join(commandsDir, f))]

/** Every command name, as each command module declares it (`command: 'checkout <rev>'`). */
const commands = [...new Set(sources.flatMap((file) => [...readFileSync(file, 'utf8').matchAll(/command: '([a-z][a-z-]*)/g)].map((m) => m[1] as string)))]

/** Every word the help can print: the words of the CLI's sources and of yargs' own English strings. */
const words = new Set(
  [...sources.map((file) => readFileSync(file, 'utf8')), readFileSync(path.join(root, 'node_modules/yargs/locales/en.json'), 'utf8')].flatMap(
    (text) => text.match(/[A-Za-z]+/g) ?? [],
  ),
)

/**
 * Tokens too long for a narrow column (a revision path like `main~1:detect/detections/0/score` in
 * an example): these can only be cut, so pieces of them are not counted as split words.
 */
const longTokens = sources.flatMap((file) => readFileSync(file, 'utf8').split(/[\s'"`]+/).filter((t) => t.length > 20))
const isSplitWord = (w: string) => !words.has(w) && !longTokens.some((t) => t.includes(w))

describe('ckpt COMMAND --help on a terminal', () => {
  it('wraps every command help on word boundaries at widths 40, 60, 80 and 100', async () => {
    expect(commands.length).toBeGreaterThan(25)
    const dir = tempDir()
    const script = commands.map((c) => `${shellQuote(process.execPath)} ${shellQuote(CKPT)} ${c} --help; echo "@@ exit $?"`).join('; ')
    const runs = await Promise.all([40, 60, 80, 100].map((columns) => inTerminal(script, { cwd: dir, columns, timeoutMs: 120_000 }).then((r) => ({ columns, ...r }))))
    for (const { columns, code, screen } of runs) {
      expect(code).toBe(0)
      const lines = screen.split('\n')
      expect(lines.filter((l) => l.startsWith('@@ exit')).every((l) => l === '@@ exit 0')).toBe(true)
      expect(lines.filter((l) => l.startsWith('@@ exit')).length).toBe(commands.length)
      const split = [...new Set(screen.match(/[A-Za-z]+/g) ?? [])].filter(isSplitWord)
      expect({ columns, split }).toEqual({ columns, split: [] })
      // A line wider than the terminal would be wrapped by the terminal itself, mid-word.
      expect(lines.filter((l) => [...l].length > columns)).toEqual([])
    }
  }, 120_000)
})

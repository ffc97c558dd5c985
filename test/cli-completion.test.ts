import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ckpt } from './support/cli.js'
import { ckptOnPath, shellQuote } from './support/terminal.js'
import { tempDir } from './support/temp.js'

/** The words bash hands a completion function for `line`: split on blanks, `:` a word of its own (COMP_WORDBREAKS). */
function bashWords(line: string): string[] {
  const words = line.split(/\s+/).flatMap((word) => word.split(/(:)/).filter((part, i, parts) => part !== '' || i === parts.length - 1))
  return words.length === 0 ? [''] : words
}

/**
 * What a real bash offers on TAB after `line`: the script `ckpt completion bash` prints is sourced,
 * and the function it registers for ckpt is called the way bash calls it (COMP_WORDS, COMP_CWORD,
 * COMP_LINE, COMP_POINT), as bash-completion's own tests do.
 */
function complete(cwd: string, bin: string, line: string) {
  const words = bashWords(line)
  const script = [
    'source <(ckpt completion bash)',
    `spec=$(complete -p ckpt) || exit 3`,
    `fn=$(sed -E 's/.*-F ([^ ]+).*/\\1/' <<< "$spec")`,
    `COMP_LINE=${shellQuote(line)}; COMP_POINT=${line.length}`,
    `COMP_WORDS=(${words.map(shellQuote).join(' ')}); COMP_CWORD=${words.length - 1}`,
    'COMPREPLY=()',
    `"$fn" ckpt ${shellQuote(words.at(-1) ?? '')} ${shellQuote(words.at(-2) ?? '')}`,
    'echo "@spec $spec"',
    `printf '%s\\n' "\${COMPREPLY[@]}"`,
  ].join('\n')
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, SHELL: '/bin/bash' }
  delete env.CKPT_DIR
  const run = spawnSync('bash', ['--norc', '--noprofile', '-c', script], { cwd, env, encoding: 'utf8' })
  expect(run.status, run.stderr).toBe(0)
  const lines = run.stdout.split('\n')
  const spec = lines.find((l) => l.startsWith('@spec ')) ?? ''
  const offered = lines.slice(lines.indexOf(spec) + 1).filter((l) => l !== '')
  return { spec, offered: offered.sort(), stderr: run.stderr }
}

/** A store with timelines main and exp, tag v1, stages detect and notes; a file beside it that must never be offered as a revision. */
function storeWithHistory() {
  const dir = tempDir()
  const run = (...args: string[]) => expect(ckpt(dir, args).code).toBe(0)
  run('init')
  run('commit', '-s', 'detect', '--json', '{"n": 1}')
  run('commit', '-s', 'notes', '--json', '"text"')
  run('tag', 'v1')
  run('timeline', 'exp')
  writeFileSync(path.join(dir, 'main-notes.txt'), 'a local file\n')
  return { dir, bin: ckptOnPath(tempDir()) }
}

describe('ckpt completion in bash', () => {
  it('offers HEAD, timelines and tags where a revision goes, never a dash or a file name, and nothing when nothing fits', () => {
    const { dir, bin } = storeWithHistory()
    const first = complete(dir, bin, 'ckpt checkout ')
    // -o default / -o bashdefault would make bash list files whenever nothing matches.
    expect(first.spec).not.toMatch(/-o (bash)?default/)
    expect(first.offered).toEqual(['HEAD', 'exp', 'main', 'v1'])
    expect(complete(dir, bin, 'ckpt checkout m').offered).toEqual(['main'])
    expect(complete(dir, bin, 'ckpt log -n 3 ').offered).toEqual(['HEAD', 'exp', 'main', 'v1'])
    expect(complete(dir, bin, 'ckpt diff main ').offered).toEqual(['HEAD', 'exp', 'main', 'v1'])
    expect(complete(dir, bin, 'ckpt checkout nosuch').offered).toEqual([])
  })

  it('offers the stages of the checkpoint after REV:, in the form bash inserts after the colon', () => {
    const { dir, bin } = storeWithHistory()
    expect(complete(dir, bin, 'ckpt cat HEAD:').offered).toEqual(['detect', 'notes'])
    expect(complete(dir, bin, 'ckpt cat v1:n').offered).toEqual(['notes'])
    expect(complete(dir, bin, 'ckpt show main:').offered).toEqual(['detect', 'notes'])
    expect(complete(dir, bin, 'ckpt cat nosuch:').offered).toEqual([])
  })

  it('offers command names, and the real options of the command being typed (no --n, no camel case)', () => {
    const { dir, bin } = storeWithHistory()
    expect(complete(dir, bin, 'ckpt che').offered).toEqual(['checkout'])
    expect(complete(dir, bin, 'ckpt ').offered).toEqual(expect.arrayContaining(['checkout', 'commit', 'log', 'completion', 'timeline']))
    const logOptions = complete(dir, bin, 'ckpt log --').offered
    expect(logOptions).toEqual(expect.arrayContaining(['--max-count', '--oneline', '--first-parent', '--store']))
    expect(logOptions.filter((o) => o === '--n' || /[A-Z]/.test(o))).toEqual([])
    expect(complete(dir, bin, 'ckpt log -').offered).toContain('-n')
    expect(complete(dir, bin, 'ckpt commit --as ').offered).toEqual(['bytes', 'json'])
    expect(complete(dir, bin, 'ckpt commit -s ').offered).toEqual(['detect', 'notes'])
  })

  it('offers file names where a file goes', () => {
    const { dir, bin } = storeWithHistory()
    expect(complete(dir, bin, 'ckpt commit -s x --file main-').offered).toEqual(['main-notes.txt'])
  })

  it('offers no revisions, quietly, outside any store', () => {
    const dir = tempDir()
    mkdirSync(path.join(dir, 'sub'))
    const bin = ckptOnPath(tempDir())
    const result = complete(dir, bin, 'ckpt checkout ')
    expect(result.offered).toEqual([])
    expect(result.stderr).toBe('')
    expect(complete(dir, bin, 'ckpt cat HEAD:').offered).toEqual([])
  })
})

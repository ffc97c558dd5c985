import { spawn, spawnSync } from 'node:child_process'
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
 * What a real bash offers on TAB after each of `lines`: the script `ckpt completion bash` prints
 * is sourced, and the function it registers for ckpt is called the way bash calls it (COMP_WORDS,
 * COMP_CWORD, COMP_LINE, COMP_POINT), as bash-completion's own tests do. One bash for all lines.
 */
function completions(cwd: string, bin: string, lines: readonly string[]) {
  const script = [
    'source <(ckpt completion bash)',
    `spec=$(complete -p ckpt) || exit 3`,
    `fn=$(sed -E 's/.*-F ([^ ]+).*/\\1/' <<< "$spec")`,
    'echo "@spec $spec"',
    ...lines.flatMap((line) => {
      const words = bashWords(line)
      return [
        `COMP_LINE=${shellQuote(line)}; COMP_POINT=${line.length}`,
        `COMP_WORDS=(${words.map(shellQuote).join(' ')}); COMP_CWORD=${words.length - 1}`,
        'COMPREPLY=()',
        `"$fn" ckpt ${shellQuote(words.at(-1) ?? '')} ${shellQuote(words.at(-2) ?? '')}`,
        `echo "@line"; printf '%s\\n' "\${COMPREPLY[@]}"`,
      ]
    }),
  ].join('\n')
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, SHELL: '/bin/bash' }
  delete env.CKPT_DIR
  const run = spawnSync('bash', ['--norc', '--noprofile', '-c', script], { cwd, env, encoding: 'utf8' })
  expect(run.status, run.stderr).toBe(0)
  const [head = '', ...answers] = run.stdout.split('@line\n')
  const offered = new Map(lines.map((line, i) => [line, (answers[i] ?? '').split('\n').filter((l) => l !== '').sort()]))
  return { spec: head.replace('@spec ', '').trim(), offered: (line: string) => offered.get(line), stderr: run.stderr }
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
  it('offers HEAD, timelines and tags where a revision goes, stages after REV:, real options, files only where files go', () => {
    const { dir, bin } = storeWithHistory()
    const lines = [
      'ckpt checkout ',
      'ckpt checkout m',
      'ckpt log -n 3 ',
      'ckpt diff main ',
      'ckpt checkout nosuch',
      'ckpt cat HEAD:',
      'ckpt cat v1:n',
      'ckpt show main:',
      'ckpt cat nosuch:',
      'ckpt che',
      'ckpt ',
      'ckpt log --',
      'ckpt log -',
      'ckpt commit --as ',
      'ckpt commit -s ',
      'ckpt commit -s x --file main-',
      'ckpt commit -s x --json 1 -m ',
    ]
    const head = ckpt(dir, ['rev-parse', 'HEAD']).stdout
    const { spec, offered } = completions(dir, bin, lines)
    // A TAB only lists: the commit it completes is never made.
    expect(ckpt(dir, ['rev-parse', 'HEAD']).stdout).toBe(head)
    expect(offered('ckpt commit -s x --json 1 -m ')).toEqual([])
    // -o default / -o bashdefault make bash list files whenever nothing matches.
    expect(spec).toMatch(/^complete -F \S+ ckpt$/)
    expect(spec).not.toMatch(/-o (bash)?default/)
    const revisions = ['HEAD', 'exp', 'main', 'v1']
    expect(offered('ckpt checkout ')).toEqual(revisions)
    expect(offered('ckpt checkout m')).toEqual(['main'])
    expect(offered('ckpt log -n 3 ')).toEqual(revisions)
    expect(offered('ckpt diff main ')).toEqual(revisions)
    expect(offered('ckpt checkout nosuch')).toEqual([])
    // In the form bash inserts after the colon (it splits words at ':').
    expect(offered('ckpt cat HEAD:')).toEqual(['detect', 'notes'])
    expect(offered('ckpt cat v1:n')).toEqual(['notes'])
    expect(offered('ckpt show main:')).toEqual(['detect', 'notes'])
    expect(offered('ckpt cat nosuch:')).toEqual([])
    expect(offered('ckpt che')).toEqual(['checkout', 'cherry-pick'])
    expect(offered('ckpt ')).toEqual(expect.arrayContaining(['checkout', 'commit', 'log', 'completion', 'timeline']))
    const logOptions = offered('ckpt log --') ?? []
    expect(logOptions).toEqual(expect.arrayContaining(['--max-count', '--oneline', '--first-parent', '--store']))
    expect(logOptions.filter((o) => o === '--n' || /[A-Z]/.test(o))).toEqual([])
    expect(offered('ckpt log -')).toContain('-n')
    expect(offered('ckpt commit --as ')).toEqual(['bytes', 'json'])
    expect(offered('ckpt commit -s ')).toEqual(['detect', 'notes'])
    expect(offered('ckpt commit -s x --file main-')).toEqual(['main-notes.txt'])
  })

  it('offers no revisions and no file names, quietly, outside any store', () => {
    const dir = tempDir()
    mkdirSync(path.join(dir, 'sub'))
    writeFileSync(path.join(dir, 'HEAD-file'), '')
    const { offered, stderr } = completions(dir, ckptOnPath(tempDir()), ['ckpt checkout ', 'ckpt cat HEAD:', 'ckpt checkout H'])
    expect([offered('ckpt checkout '), offered('ckpt cat HEAD:'), offered('ckpt checkout H')]).toEqual([[], [], []])
    expect(stderr).toBe('')
  })

  it('completes on a real TAB in an interactive bash: a revision, the stages after REV:, and no file where a revision goes', async () => {
    const { dir, bin } = storeWithHistory()
    writeFileSync(path.join(dir, 'notes-file'), '')
    const screen = await interactiveBash(dir, bin, [
      { send: 'source <(ckpt completion bash); echo RE""ADY\n', until: /READY/ },
      { send: 'ckpt checkout m\t', until: /ckpt checkout main / },
      { send: '\x15ckpt cat HEAD:\t\t', until: /detect\s+notes/ },
      { send: '\x15ckpt checkout n\t\t', until: null },
      { send: '\x15echo DO""NE\n', until: /DONE/ },
    ])
    const tail = screen.slice(screen.indexOf('ckpt checkout n'))
    expect(tail).not.toContain('notes-file')
  }, 60_000)
})

/** Types `steps` into an interactive bash on a pseudo terminal, each once the screen shows what the one before waits for; returns the screen. */
function interactiveBash(cwd: string, bin: string, steps: ReadonlyArray<{ send: string; until: RegExp | null }>): Promise<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, PS1: '$ ', TERM: 'dumb' }
  delete env.CKPT_DIR
  const child = spawn('script', ['-qfec', 'bash --norc --noprofile -i', '/dev/null'], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] })
  let screen = ''
  child.stdout.on('data', (piece: Buffer) => (screen += piece.toString('utf8')))
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()))
  const shows = async (pattern: RegExp, from: number) => {
    for (let waited = 0; !pattern.test(screen.slice(from)); waited += 20) {
      if (waited > 15_000) throw new Error(`the terminal never showed ${String(pattern)}:\n${screen}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
  return (async () => {
    try {
      for (const step of steps) {
        const from = screen.length
        child.stdin.write(step.send)
        if (step.until) await shows(step.until, from)
      }
      child.stdin.end('\x15exit\n')
      await closed
      return screen
    } finally {
      child.kill()
    }
  })()
}

/**
 * What zsh's completion function for ckpt (from `ckpt completion zsh`, loaded after compinit)
 * adds on TAB after each of `words`: `compadd` is replaced by one that prints the candidates.
 */
function zshCompletions(cwd: string, bin: string, lines: ReadonlyArray<readonly string[]>): string[][] {
  const script = [
    'autoload -Uz compinit && compinit -u',
    'source <(ckpt completion zsh)',
    'compadd() { local seen=0; for a in "$@"; do if (( seen )); then print -r -- "$a"; elif [[ $a == -- ]]; then seen=1; fi; done }',
    ...lines.flatMap((words) => [`words=(${words.map(shellQuote).join(' ')}); CURRENT=${words.length}; _ckpt; print @line`]),
  ].join('\n')
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, SHELL: '/bin/zsh' }
  delete env.CKPT_DIR
  const run = spawnSync('zsh', ['-f', '-c', script], { cwd, env, encoding: 'utf8' })
  expect(run.status, run.stderr).toBe(0)
  return run.stdout.split('@line\n').slice(0, lines.length).map((block) => block.split('\n').filter((l) => l !== '').sort())
}

describe('ckpt completion in zsh', () => {
  it('offers revisions, stages after REV: and real options, as in bash', () => {
    const { dir, bin } = storeWithHistory()
    const [revisions, stages, options] = zshCompletions(dir, bin, [
      ['ckpt', 'checkout', ''],
      ['ckpt', 'cat', 'HEAD:'],
      ['ckpt', 'log', '--'],
    ])
    expect(revisions).toEqual(['HEAD', 'exp', 'main', 'v1'])
    expect(stages).toEqual(['HEAD:detect', 'HEAD:notes'])
    expect(options).toContain('--max-count')
    expect(options).not.toContain('--n')
  })
})

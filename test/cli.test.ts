import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import { createMemoryBackend, initStore, initStoreOn, openStore } from '../src/index.js'
import { CKPT, ckpt, jsonLines } from './support/cli.js'
import { steppingClock, tempDir } from './support/temp.js'

/** init, three commits on main, a fork "exp" from main~1 with two commits. */
function walkthrough() {
  const dir = tempDir()
  const run = (...args: string[]) => {
    const r = ckpt(dir, args)
    if (r.code !== 0) throw new Error(`ckpt ${args.join(' ')} failed: ${r.stderr}`)
    return r.stdout.trim()
  }
  run('init')
  const a = run('commit', '-s', 'extract', '--json', '{"frames": 3}', '-m', 'extract frames', '--run', 'r1')
  const b = run('commit', '-s', 'detect', '--json', '{"detections":[{"label":"logo","score":0.71}]}', '--run', 'r1', '--config', '{"threshold":0.5}')
  writeFileSync(path.join(dir, 'notes.txt'), 'line one\nline two\nline three\n')
  const c = run('commit', '-s', 'notes', '--file', 'notes.txt', '--run', 'r1', '--meta', 'host=gpu-1', '--meta', 'try=2')
  run('timeline', 'exp', 'HEAD~1')
  run('checkout', 'exp')
  const d = run('commit', '-s', 'detect', '--json', '{"detections":[{"label":"logo","score":0.83},{"label":"car","score":0.5}]}', '--run', 'r2')
  writeFileSync(path.join(dir, 'notes.txt'), 'line one\nline 2\nline three\n')
  const e = run('commit', '-s', 'notes', '--file', 'notes.txt', '--run', 'r2')
  run('checkout', 'main')
  return { dir, run, ids: { a, b, c, d, e } }
}

describe('ckpt: a session', () => {
  it('records, branches, logs with a graph, diffs, shows and checks out', () => {
    const { dir, run, ids } = walkthrough()
    expect(Object.values(ids).every((id) => /^[0-9a-f]{10}$/.test(id))).toBe(true)
    expect(run('log', '--graph', '--all', '--oneline')).toBe(
      [
        `* ${ids.e} (exp) notes [r2]`,
        `* ${ids.d} detect [r2]`,
        `| * ${ids.c} (HEAD -> main) notes [r1]`,
        `|/`,
        `* ${ids.b} detect [r1]`,
        `* ${ids.a} extract [r1] extract frames`,
      ].join('\n'),
    )
    const diff = run('diff', 'main', 'exp')
    expect(diff).toContain('2 changed, 0 added, 0 removed, 1 unchanged')
    expect(diff).toContain('  /detections/0/score  0.71 → 0.83')
    expect(diff).toContain('+ /detections/1  {"label":"car","score":0.5}')
    expect(diff).toContain('@@ -1,3 +1,3 @@\n line one\n-line two\n+line 2\n line three')
    expect(run('diff', 'main..exp', '--name-only')).toBe('detect\nnotes')
    expect(run('diff', 'main~1..exp', '--stat')).toBe('1 changed, 1 added, 0 removed, 1 unchanged\nM detect  2 paths (+1 -0 ~1)\nA notes  (bytes, added)')
    expect(run('diff', 'main..exp', '--stat')).toBe('2 changed, 0 added, 0 removed, 1 unchanged\nM detect  2 paths (+1 -0 ~1)\nM notes  +1 -1 lines, 29 B → 27 B')
    const show = run('show', 'main')
    expect(show).toMatch(/Stage: {2}notes {3}Run: r1/)
    expect(show).toContain('Meta:   {"host":"gpu-1","try":"2"}')
    expect(show).toMatch(/\nnotes +bytes +29 B +bafk\w+ +\(changed\)/)
    expect(show).toMatch(/\ndetect +json +\d+ B +baguqehra\w+\n/)
    const out = path.join(dir, 'restored')
    expect(ckpt(dir, ['restore', 'exp', '--to', out]).code).toBe(0)
    expect(JSON.parse(readFileSync(path.join(out, 'detect.json'), 'utf8'))).toEqual({ detections: [{ label: 'logo', score: 0.83 }, { label: 'car', score: 0.5 }] })
    // A file output is written back under the name it was committed from.
    expect(readFileSync(path.join(out, 'notes.txt'), 'utf8')).toBe('line one\nline 2\nline three\n')
    // restore writes files only: HEAD stays where it was.
    expect(run('status')).toContain('On timeline main')
  })

  it('gives every read command a --json form', () => {
    const { dir, run, ids } = walkthrough()
    const log = jsonLines(run('log', '--json'))
    expect(log.map((c) => c.shortId)).toEqual([ids.c, ids.b, ids.a])
    expect(log[1]).toMatchObject({ stage: 'detect', run: 'r1', config: { threshold: 0.5 }, parents: [expect.stringMatching(/^baguqehra/)] })
    expect(typeof log[0]?.time).toBe('string')
    const show = JSON.parse(run('show', '--json')) as { stageOutputs: Array<Record<string, unknown>> }
    expect(show.stageOutputs.map((s) => [s.stage, s.kind, s.changed])).toEqual([
      ['detect', 'json', false],
      ['extract', 'json', false],
      ['notes', 'bytes', true],
    ])
    const diff = JSON.parse(run('diff', 'main', 'exp', '--json')) as { summary: unknown; stages: Array<{ stage: string; changes?: unknown[]; hunks?: unknown[] }> }
    expect(diff.summary).toEqual({ added: 0, removed: 0, changed: 2, unchanged: 1 })
    expect(diff.stages.find((s) => s.stage === 'detect')?.changes).toEqual([
      { op: 'replace', path: '/detections/0/score', oldValue: 0.71, value: 0.83 },
      { op: 'add', path: '/detections/1', value: { label: 'car', score: 0.5 } },
    ])
    const status = JSON.parse(run('status', '--json')) as { head: unknown; stages: Array<{ stage: string; kind: string; size: number }> }
    expect(status.head).toMatchObject({ timeline: 'main', detached: false })
    expect(status.stages.map((s) => s.stage)).toEqual(['detect', 'extract', 'notes'])
    expect(jsonLines(run('timeline', '--json')).map((t) => [t.name, t.current, t.stage])).toEqual([
      ['exp', false, 'notes'],
      ['main', true, 'notes'],
    ])
    run('tag', 'v1', 'main~1')
    expect(jsonLines(run('tag', '--json'))).toEqual([{ name: 'v1', target: JSON.parse(run('rev-parse', 'main~1', '--json')).id }])
    expect(jsonLines(run('reflog', 'main', '--json')).map((e) => e.reason)).toEqual(['commit: notes', 'commit: detect', 'commit (initial): extract: extract frames'])
    expect(JSON.parse(run('cat', 'main:detect', '--json'))).toEqual({ detections: [{ label: 'logo', score: 0.71 }] })
    expect(JSON.parse(run('init', '--json', path.join(dir, 'other')))).toEqual({ path: path.join(dir, 'other', '.ckpt') })
    writeFileSync(path.join(dir, 'report.json'), '{"ok": true}')
    const committed = JSON.parse(run('commit', '-s', 'report', '--file', 'report.json', '--json')) as { id: string; stage: string }
    expect(committed.stage).toBe('report')
    expect(committed.id).toBe(run('rev-parse', 'HEAD'))
  })

  it('filters the log by stage, run, count and time, and follows first parents', () => {
    const { run, ids } = walkthrough()
    expect(run('log', 'exp', '--stage', 'detect', '--oneline')).toBe(`${ids.d} detect [r2]\n${ids.b} detect [r1]`)
    expect(run('log', '--all', '--run', 'r2', '--oneline', '-n', '1')).toBe(`${ids.e} (exp) notes [r2]`)
    expect(run('log', '--since', '2999-01-01')).toBe('')
    expect(run('log', '--until', '2000-01-01')).toBe('')
  })

  it('prints outputs: pretty JSON pointers, raw bytes, stdin commits', () => {
    const { dir, run } = walkthrough()
    expect(run('cat', 'exp:detect/detections/1/label')).toBe('"car"')
    expect(ckpt(dir, ['cat', 'main:notes']).stdout).toBe('line one\nline two\nline three\n')
    const bytes = Uint8Array.from([0, 1, 2, 255])
    expect(ckpt(dir, ['commit', '-s', 'blob', '-'], { input: bytes }).code).toBe(0)
    expect([...ckpt(dir, ['cat', 'HEAD:blob']).raw]).toEqual([0, 1, 2, 255])
    expect(ckpt(dir, ['commit', '-s', 'piped', '--as', 'json', '-'], { input: '{"from": "stdin"}' }).code).toBe(0)
    expect(run('cat', 'HEAD:piped/from')).toBe('"stdin"')
    const digest = Buffer.from(CID.parse(run('rev-parse', 'HEAD:blob')).multihash.digest).toString('hex')
    expect(digest).toHaveLength(64)
  })

  it('manages timelines, tags and HEAD', () => {
    const { dir, run, ids } = walkthrough()
    expect(run('timeline')).toMatch(new RegExp(`^exp   ${ids.e}  notes  .*\\n\\* main  ${ids.c}  notes  `))
    expect(run('branch', '-m', 'exp', 'exp2')).toBe('Renamed exp to exp2')
    expect(ckpt(dir, ['timeline', '--move', 'exp2', 'main']).code).toBe(6)
    expect(run('timeline', '--move', 'exp2', 'main', '--force')).toContain('Moved exp2')
    expect(ckpt(dir, ['timeline', '-d', 'main']).code).toBe(2)
    expect(run('timeline', '-d', 'exp2')).toContain('Deleted timeline exp2')
    expect(run('timeline', '--restore', 'exp2')).toContain('Restored timeline exp2')
    expect(run('timeline', '-d', 'exp2')).toContain('Deleted timeline exp2')
    // The deleted timeline's reflog still names where it has been.
    // Newest first: deleted, restored (at main), deleted, moved to main, renamed (at e).
    expect(run('rev-parse', 'exp2@{1}')).toBe(run('rev-parse', 'main'))
    expect(run('rev-parse', 'exp2@{4}')).toBe(run('rev-parse', ids.e))
    run('tag', 'v1')
    expect(ckpt(dir, ['tag', 'v1']).code).toBe(6)
    expect(run('tag', '-d', 'v1')).toBe('Deleted tag v1')
    const detached = ckpt(dir, ['checkout', 'main~1'])
    expect(detached.stderr).toContain('HEAD is now detached')
    expect(JSON.parse(run('status', '--json')).head).toMatchObject({ detached: true, timeline: null })
    expect(run('checkout', 'main~1', '-b', 'retry')).toBe("Switched to a new timeline 'retry'")
    expect(run('commit', '-s', 'again', '--json', '2')).toMatch(/^[0-9a-f]{10}$/)
    expect(run('log', '--oneline', '-n', '2').split('\n')[1]).toContain(ids.b)
    // HEAD's reflog holds the commit made on retry, then the checkout onto it.
    expect(run('reflog', '-n', '2')).toMatch(/^[0-9a-f]{10} HEAD@\{0\}: commit: again .*\n[0-9a-f]{10} HEAD@\{1\}: checkout: moving to retry /)
  }, 60_000) // about forty commands: the longest walk of this file, slow on a loaded 2-core machine
})

describe('ckpt with directory outputs', () => {
  it('commits a folder as a tree, shows, lists, prints one file, diffs and checks it out', () => {
    const dir = tempDir()
    const frames = path.join(dir, 'frames')
    mkdirSync(path.join(frames, 'sub'), { recursive: true })
    writeFileSync(path.join(frames, '1.txt'), 'one\n')
    writeFileSync(path.join(frames, 'sub', '2.txt'), 'two\n')
    expect(ckpt(dir, ['init']).code).toBe(0)
    expect(ckpt(dir, ['commit', '-s', 'frames', '--dir', 'frames']).code).toBe(0)
    expect(ckpt(dir, ['show']).stdout).toMatch(/\nframes +tree +8 B +baguqehra\w+ +2 files +\(changed\)\n/)
    expect(ckpt(dir, ['cat', 'HEAD:frames']).stdout).toBe('         4  1.txt\n         4  sub/2.txt\n')
    expect(ckpt(dir, ['cat', 'HEAD:frames/sub/2.txt']).stdout).toBe('two\n')
    writeFileSync(path.join(frames, 'sub', '2.txt'), 'TWO\n')
    expect(ckpt(dir, ['commit', '-s', 'frames', '--dir', 'frames']).code).toBe(0)
    const diff = JSON.parse(ckpt(dir, ['diff', 'HEAD~1', '--json']).stdout) as { stages: Array<{ kind: string; changes: Array<{ op: string; path: string }> }> }
    expect(diff.stages[0]?.kind).toBe('tree')
    expect(diff.stages[0]?.changes.map((c) => `${c.op} ${c.path}`)).toEqual(['replace /sub/2.txt'])
    const target = path.join(dir, 'restored')
    expect(ckpt(dir, ['restore', 'HEAD~1', '--to', target]).code).toBe(0)
    expect(readFileSync(path.join(target, 'frames', 'sub', '2.txt'), 'utf8')).toBe('two\n')
    symlinkSync('/etc/hostname', path.join(frames, 'link'))
    expect(ckpt(dir, ['commit', '-s', 'frames', '--dir', 'frames']).code).toBe(2)
  })
})

describe('ckpt on a terminal', () => {
  // `script` gives the command a real pseudo-terminal, as a person's shell would.
  const onTty = (cwd: string, command: string, env: Record<string, string>) =>
    spawnSync('script', ['-qec', command, '/dev/null'], { cwd, encoding: 'utf8', env: { ...process.env, ...env } }).stdout

  it('pages long output through $PAGER, colours it, and stops both on request', () => {
    const { dir } = walkthrough()
    const cli = `${process.execPath} ${CKPT}`
    const paged = onTty(dir, `${cli} log --oneline`, { PAGER: 'tr a-z A-Z', NO_COLOR: '' })
    // The pager upper-cased everything, colour codes included.
    expect(paged).toContain('HEAD -> MAIN')
    expect(paged).toContain('\u001b[33M')
    const plain = onTty(dir, `${cli} log --oneline --no-pager`, { PAGER: 'tr a-z A-Z', NO_COLOR: '1' })
    expect(plain).toContain('(HEAD -> main)')
    expect(plain).not.toContain('\u001b[')
  })
})

describe('ckpt log --graph', () => {
  it('draws forks and merges across timelines', async () => {
    const project = tempDir()
    const store = await initStore(path.join(project, '.ckpt'), { clock: steppingClock(), author: 't' })
    const a = await store.commit({ stage: 'a', output: 1 })
    await store.timelines.create('side', a.id)
    const x = await store.commit({ timeline: 'side', stage: 'x', output: 1 })
    const b = await store.commit({ stage: 'b', output: 1 })
    const y = await store.commit({ timeline: 'side', stage: 'y', output: 1 })
    const m = await store.commit({ stage: 'merge', output: 1, parents: [b.id, y.id] })
    await store.timelines.create('other', a.id)
    const o = await store.commit({ timeline: 'other', stage: 'o', output: 1 })
    await store.close()
    expect(ckpt(project, ['log', '--graph', '--all', '--oneline']).stdout).toBe(
      [
        `* ${o.shortId} (other) o`,
        `| * ${m.shortId} (HEAD -> main) merge`,
        `| |\\`,
        `| | * ${y.shortId} (side) y`,
        `| * | ${b.shortId} b`,
        `|/ /`,
        `| * ${x.shortId} x`,
        `|/`,
        `* ${a.shortId} a`,
        '',
      ].join('\n'),
    )
    expect(ckpt(project, ['log', '--graph', '--oneline', '--first-parent']).stdout).toBe(`* ${m.shortId} (HEAD -> main) merge\n* ${b.shortId} b\n* ${a.shortId} a\n`)
  })
})

describe('ckpt: errors and exit codes', () => {
  it('exits with a documented code and one error line for each failure', () => {
    const dir = tempDir()
    const outside = ckpt(dir, ['log'])
    expect(outside.code).toBe(3)
    expect(outside.stderr).toMatch(/^ckpt: error: not inside a ckpt store .*ckpt init`\n$/)
    ckpt(dir, ['init'])
    // An empty history is not an error: exit 0, and say why nothing is shown.
    expect(ckpt(dir, ['log'])).toMatchObject({ code: 0, stdout: '', stderr: 'timeline main has no checkpoints yet; record one with ckpt commit\n' })
    ckpt(dir, ['commit', '-s', 's', '--json', '1'])
    expect(ckpt(dir, ['rev-parse', 'nosuch'])).toMatchObject({ code: 4, stderr: 'ckpt: error: unknown revision "nosuch"\n' })
    expect(ckpt(dir, ['show', 'main~5']).code).toBe(4)
    expect(ckpt(dir, ['cat', 'HEAD:s/missing']).code).toBe(4)
    const badName = ckpt(dir, ['timeline', 'bad..name'])
    expect(badName.code).toBe(2)
    expect(badName.stderr).toContain('bad..name')
    expect(ckpt(dir, ['commit', '-s', '../escape', '--json', '1']).code).toBe(2)
    expect(ckpt(dir, ['commit', '-s', 'a/b', '--json', '1']).code).toBe(2)
    expect(ckpt(dir, ['commit', '-s', 's', '--json', '{nope']).code).toBe(2)
    expect(ckpt(dir, ['commit', '-s', 's']).code).toBe(2)
    expect(ckpt(dir, ['frobnicate']).code).toBe(2)
    expect(ckpt(dir, ['log', '--no-such-flag']).code).toBe(2)
    expect(ckpt(dir, ['init']).code).toBe(3)
    expect(ckpt(dir, ['rev-parse', 'main:s/x']).code).toBe(2)
    expect(ckpt(dir, ['log', '--debug', 'nosuch']).stderr).toMatch(/CkptError: unknown revision[\s\S]*at /)
  })

  it('reports an ambiguous short id with exit 5, naming the candidates', async () => {
    const dir = path.join(tempDir(), '.ckpt')
    const memory = await initStoreOn(createMemoryBackend(), { clock: steppingClock(), author: 't' })
    const seen = new Set<string>()
    let prefix: string | undefined
    let count = 0
    while (!prefix) {
      const { shortId } = await memory.commit({ stage: 'tick', output: count++ })
      if (seen.has(shortId.slice(0, 4))) prefix = shortId.slice(0, 4)
      seen.add(shortId.slice(0, 4))
    }
    // The same deterministic commits in an on-disk store give the same ids.
    const disk = await initStore(dir, { clock: steppingClock(), author: 't' })
    for (let i = 0; i < count; i++) await disk.commit({ stage: 'tick', output: i })
    await disk.close()
    const result = ckpt(path.dirname(dir), ['rev-parse', prefix])
    expect(result.code).toBe(5)
    expect(result.stderr).toMatch(new RegExp(`short id "${prefix}" matches 2 checkpoints`))
  })

  it('refuses to check out over files it did not write (exit 7), and --force overrides', () => {
    const { dir, run } = walkthrough()
    const target = path.join(dir, 'target')
    mkdirSync(target)
    writeFileSync(path.join(target, 'detect.json'), 'my own file')
    expect(ckpt(dir, ['restore', 'main', '--to', target]).code).toBe(7)
    expect(readFileSync(path.join(target, 'detect.json'), 'utf8')).toBe('my own file')
    expect(run('restore', 'main', '--to', target, '--force')).toContain('Wrote 3 file(s)')
  })
})

describe('ckpt: conventions', () => {
  it('uses colour only when asked on a pipe, never with NO_COLOR', () => {
    const { dir } = walkthrough()
    expect(ckpt(dir, ['log', '--oneline']).stdout).not.toContain('\u001b[')
    expect(ckpt(dir, ['log', '--oneline'], { env: { FORCE_COLOR: '1', NO_COLOR: '' } }).stdout).toContain('\u001b[33m')
    expect(ckpt(dir, ['log', '--oneline'], { env: { FORCE_COLOR: '1', NO_COLOR: '1' } }).stdout).not.toContain('\u001b[')
  })

  it('exits 1 from diff --exit-code only when checkpoints differ', () => {
    const { dir } = walkthrough()
    expect(ckpt(dir, ['diff', 'main', 'exp', '--exit-code']).code).toBe(1)
    expect(ckpt(dir, ['diff', 'main', 'main', '--exit-code']).code).toBe(0)
    expect(ckpt(dir, ['diff', 'main~1', '--exit-code', '--name-only']).stdout).toBe('notes\n')
  })

  it('honours --store and CKPT_DIR', () => {
    const place = path.join(tempDir(), 'elsewhere')
    const cwd = tempDir()
    expect(ckpt(cwd, ['--store', place, 'init']).code).toBe(0)
    expect(ckpt(cwd, ['--store', place, 'commit', '-s', 's', '--json', '"x"']).code).toBe(0)
    expect(ckpt(cwd, ['log', '--oneline'], { env: { CKPT_DIR: place } }).stdout).toMatch(/^[0-9a-f]{10} \(HEAD -> main\) s\n$/)
  })

  it('creates the store in the folder init names even when CKPT_DIR is set, and refuses a folder and --store together', () => {
    const cwd = tempDir()
    const fromEnv = path.join(tempDir(), 'from-env')
    expect(ckpt(cwd, ['init', 'project'], { env: { CKPT_DIR: fromEnv } }).code).toBe(0)
    expect(existsSync(path.join(cwd, 'project', '.ckpt'))).toBe(true)
    expect(existsSync(fromEnv)).toBe(false)
    const both = ckpt(cwd, ['--store', path.join(cwd, 'other'), 'init', 'third'])
    expect(both.code).toBe(2)
    expect(both.stderr).toContain('--store')
    expect(both.stderr).toContain('third')
    expect(existsSync(path.join(cwd, 'other'))).toBe(false)
    expect(existsSync(path.join(cwd, 'third'))).toBe(false)
  })

  it('finds the store from a subfolder, as git finds .git', () => {
    const { dir, ids } = walkthrough()
    const sub = path.join(dir, 'a', 'b')
    mkdirSync(sub, { recursive: true })
    expect(ckpt(sub, ['rev-parse', 'HEAD']).stdout.trim()).toBe(ckpt(dir, ['rev-parse', ids.c]).stdout.trim())
  })

  it('shows examples in --help of every command and prints a completion script', () => {
    const cwd = tempDir()
    const commands = ['init', 'commit', 'log', 'show', 'cat', 'diff', 'timeline', 'tag', 'checkout', 'status', 'reflog', 'rev-parse']
    for (const command of [...commands, 'run', 'resume', 'replay', 'plan', 'audit', 'fsck']) {
      const help = ckpt(cwd, [command, '--help'])
      expect([command, help.code]).toEqual([command, 0])
      expect(help.stdout).toContain('Examples:')
    }
    expect(ckpt(cwd, ['completion']).stdout).toContain('###-begin-ckpt-completions-###')
  })

  it('reads a store another process holds open', async () => {
    const { dir, ids } = walkthrough()
    const holder = await openStore(path.join(dir, '.ckpt'))
    try {
      await holder.commit({ stage: 'live', output: 1 })
      // This test process is the leader, so the child must run while our event loop stays free.
      const child = spawn(process.execPath, [CKPT, 'log', '--oneline', '-n', '2'], { cwd: dir, env: { ...process.env, NO_COLOR: '1' } })
      let stdout = ''
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
      const code = await new Promise((resolve) => child.on('close', resolve))
      expect(code).toBe(0)
      expect(stdout).toMatch(new RegExp(`^\\w{10} \\(HEAD -> main\\) live\\n${ids.c} notes \\[r1\\]\\n$`))
    } finally {
      await holder.close()
    }
  })
})

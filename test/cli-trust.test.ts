import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { openStore } from '../src/index.js'
import { ckpt, ckptIn, jsonLines } from './support/cli.js'
import { ckptOnPath, inTerminal } from './support/terminal.js'
import { tempDir } from './support/temp.js'

/** A store with main (detect, report) and a fork "strict" that changed detect. */
function twoTimelines() {
  const dir = tempDir()
  const run = ckptIn(dir)
  run('init')
  run('commit', '-s', 'detect', '--json', '{"n": 1}', '-m', 'first detect')
  run('commit', '-s', 'report', '--json', '"one"', '-m', 'first report')
  run('timeline', 'strict')
  run('commit', '-s', 'detect', '--json', '{"n": 2, "m": [1]}', '-t', 'strict', '-m', 'stricter')
  return { dir, run }
}

describe('issue 21: wrong or misleading answers', () => {
  it('says a timeline or tag already exists, exit 6, instead of reporting a race (item 1)', () => {
    const { dir } = twoTimelines()
    for (const args of [['timeline', 'strict'], ['checkout', '-b', 'strict', 'main']]) {
      const r = ckpt(dir, args)
      expect(r.code).toBe(6)
      expect(r.stderr).toMatch(/^ckpt: error: timeline "strict" already exists \(at baguqehra\w+\)\n$/)
    }
    expect(ckpt(dir, ['tag', 'v1']).code).toBe(0)
    const again = ckpt(dir, ['tag', 'v1'])
    expect(again.code).toBe(6)
    expect(again.stderr).toMatch(/tag "v1" already exists/)
    expect(again.stderr).not.toMatch(/concurrently/)
  })

  it('honours or refuses every argument: -- STAGE, -n abc, unknown reflog and audit (item 2)', () => {
    const { dir, run } = twoTimelines()
    expect(run('log', '--oneline', '--all', '--', 'report').split('\n')).toHaveLength(1)
    expect(run('diff', 'main', 'strict', '--', 'report')).toBe('0 changed, 0 added, 0 removed, 1 unchanged')
    const notNumber = ckpt(dir, ['log', '-n', 'abc'])
    expect(notNumber).toMatchObject({ code: 2, stdout: '' })
    expect(notNumber.stderr).toContain('-n abc: not a number')
    expect(ckpt(dir, ['status', '--', 'x'])).toMatchObject({ code: 2 })
    expect(ckpt(dir, ['reflog', 'nosuch'])).toMatchObject({ code: 4, stdout: '' })
    expect(ckpt(dir, ['audit', 'nosuch'])).toMatchObject({ code: 4, stdout: '' })
  })

  it('points CKPT_DIR=foo at foo/.ckpt, and refuses a second store inside foo (item 3)', () => {
    const dir = tempDir()
    expect(ckpt(dir, ['init', 'foo']).code).toBe(0)
    const status = ckpt(dir, ['status'], { env: { CKPT_DIR: 'foo' } })
    expect(status.code).toBe(3)
    expect(status.stderr).toContain(`its store is ${path.join(dir, 'foo', '.ckpt')}: use --store`)
    expect(status.stderr).not.toContain('initStore')
    const nested = ckpt(dir, ['--store', 'foo', 'init'])
    expect(nested.code).toBe(3)
    expect(nested.stderr).toContain('already holds a store')
    expect(existsSync(path.join(dir, 'foo', 'ckpt-store.json'))).toBe(false)
    expect(ckpt(dir, ['status'], { env: { CKPT_DIR: 'foo/.ckpt' } }).code).toBe(0)
  })

  it("records commits in HEAD's reflog, so HEAD@{n} undoes them; re-checking out adds nothing (item 4)", () => {
    const { run } = twoTimelines()
    const before = run('reflog', 'HEAD', '--json')
    expect(run('checkout', 'main')).toBe("Already on timeline 'main'")
    expect(run('reflog', 'HEAD', '--json')).toBe(before)
    const third = run('commit', '-s', 'report', '--json', '"two"')
    const entries = jsonLines(run('reflog', 'HEAD', '--json'))
    expect(entries[0]).toMatchObject({ reason: 'commit: report', new: 'ref: timelines/main' })
    expect(String(entries[0]?.checkpoint)).toContain('baguqehra')
    expect(run('rev-parse', 'HEAD@{0}')).toBe(run('rev-parse', 'HEAD'))
    expect(run('rev-parse', 'HEAD@{1}')).toBe(run('rev-parse', 'main~1'))
    expect(run('log', '-1', '--format', '%h')).toBe(third)
    // Undo the commit the git way: move main back to where HEAD was.
    run('timeline', '--move', 'main', 'HEAD@{1}', '--force')
    expect(run('cat', 'main:report')).toBe('"one"')
  })

  it('restore writes outputs under their file names and never moves HEAD; checkout only moves HEAD (item 5)', async () => {
    const { dir, run } = twoTimelines()
    writeFileSync(path.join(dir, 'summary.pdf'), 'PDF bytes')
    run('commit', '-s', 'pdf', '--file', 'summary.pdf')
    const out = path.join(dir, 'out')
    expect(run('restore', 'main', 'pdf', 'detect', '--to', out)).toMatch(/^Wrote 2 file\(s\) of [0-9a-f]{10} into /)
    expect(readFileSync(path.join(out, 'summary.pdf'), 'utf8')).toBe('PDF bytes')
    expect(JSON.parse(readFileSync(path.join(out, 'detect.json'), 'utf8'))).toEqual({ n: 1 })
    expect(existsSync(path.join(out, 'report.json'))).toBe(false)
    expect(run('status')).toContain('On timeline main')
    const refused = ckpt(dir, ['checkout', 'strict', '--to', out])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain('ckpt restore strict --to')
    expect(run('status')).toContain('On timeline main')
    // As git's checkout -b: a new timeline where HEAD is.
    expect(run('checkout', '-b', 'here')).toBe("Switched to a new timeline 'here'")
    expect(run('rev-parse', 'here')).toBe(run('rev-parse', 'main'))
    run('checkout', 'main')
    // Leaving a detached checkpoint that nothing names warns, as git does.
    run('checkout', 'main~1')
    run('commit', '-s', 'report', '--json', '"lost"')
    const back = ckpt(dir, ['checkout', 'main'])
    expect(back.code).toBe(0)
    expect(back.stderr).toMatch(/^Warning: leaving 1 checkpoint behind, on no timeline or tag, the newest baguqehra\w+\./)
    // The library: restore returns outputs, checkout moves HEAD.
    const store = await openStore(path.join(dir, '.ckpt'))
    try {
      const { outputs } = await store.restore('main~1')
      expect(outputs).toMatchObject({ detect: { n: 1 }, report: 'one' })
      expect((await store.checkout('strict')).head).toMatchObject({ timeline: 'strict', detached: false })
    } finally {
      await store.close()
    }
  })

  it('cat of a checkpoint asks for a stage; show REV:STAGE prints the output (item 6)', () => {
    const { dir, run } = twoTimelines()
    const cat = ckpt(dir, ['cat', 'HEAD'])
    expect(cat.code).toBe(2)
    expect(cat.stderr).toContain('HEAD is a checkpoint, not an output: name a stage, as HEAD:detect or HEAD:report')
    expect(cat.stdout).toBe('')
    expect(JSON.parse(run('show', 'strict:detect'))).toEqual({ n: 2, m: [1] })
    expect(run('show', 'strict:detect', '--json')).toBe('{"m":[1],"n":2}')
  })

  it('words errors for a CLI user (item 7)', () => {
    const { dir } = twoTimelines()
    const typo = ckpt(dir, ['comit'])
    expect(typo.code).toBe(2)
    expect(typo.stderr).toContain('did you mean commit?')
    const bare = ckpt(dir, [])
    expect(bare.code).toBe(2)
    expect(bare.stderr.match(/ckpt --help/g)).toHaveLength(1)
    const noFile = ckpt(dir, ['run', 'nosuch.js'])
    expect(noFile.code).toBe(4)
    expect(noFile.stderr).toBe('ckpt: error: pipeline file nosuch.js: no such file\n')
    const badJson = ckpt(dir, ['commit', '-s', 'x', '--json', '{bad'])
    expect(badJson.stderr).toContain('--json {bad is not valid JSON')
    const binary = ckpt(dir, ['commit', '-s', 'x', '--as', 'json', '-'], { input: Buffer.from([0x01, 0xff, 0x1b, 0x7b]) })
    expect(binary.code).toBe(2)
    expect(binary.stderr).not.toMatch(/[\u0001\u001b\ufffd]/)
    const move = ckpt(dir, ['timeline', '--move', 'strict', 'main~1'])
    expect(move.code).toBe(6)
    expect(move.stderr).toContain('use --force')
    const keep = ckpt(dir, ['retention', 'main', '--keep-last', '0'])
    expect(keep.code).toBe(2)
    expect(keep.stderr).toContain('--keep-last must be a whole number')
    expect(keep.stderr).not.toContain('keepLast')
    const rename = ckpt(dir, ['timeline', '-m', 'strict'])
    expect(rename.stderr).toContain('give the new name: ckpt timeline -m OLD NEW')
    const pipeline = path.join(dir, 'failing.mjs')
    writeFileSync(pipeline, "export default { name: 'p', stages: [{ name: 'boom', version: '1', writes: ['x'], run: () => { throw new Error('no') } }] }\n")
    const shapeless = path.join(dir, 'shapeless.mjs')
    writeFileSync(shapeless, "export default { name: 'p', stages: [{ name: 'boom', version: '1', run: () => ({}) }] }\n")
    const shape = ckpt(dir, ['run', 'shapeless.mjs'])
    expect(shape.code).toBe(2)
    expect(shape.stderr).toContain('stage "boom" has no writes list')
    const failed = ckpt(dir, ['run', 'failing.mjs', '--run', 'r1'])
    expect(failed.code).toBe(10)
    expect(failed.stdout).toContain('resume with: ckpt resume failing.mjs --run r1')
  })

  it('says it reads a stage output from the terminal instead of waiting silently (item 7)', async () => {
    const { dir } = twoTimelines()
    const bin = ckptOnPath(tempDir())
    // The terminal ends its input at once (script's stdin is empty): the note, then an empty output.
    const typed = await inTerminal('ckpt commit -s typed -', { cwd: dir, env: { PATH: `${bin}:${process.env.PATH ?? ''}` } })
    expect(typed.code).toBe(0)
    expect(typed.screen).toContain('reading the output of stage typed from the terminal; end it with Ctrl-D')
    expect(ckpt(dir, ['commit', '-s', 'piped', '-'], { input: 'x' }).stderr).toBe('')
  })

  it('an empty store: log exits 0 and says so; show and checkout name the empty timeline (item 8)', () => {
    const dir = tempDir()
    ckpt(dir, ['init'])
    expect(ckpt(dir, ['log'])).toMatchObject({ code: 0, stdout: '', stderr: 'timeline main has no checkpoints yet; record one with ckpt commit\n' })
    expect(ckpt(dir, ['log', '--json'])).toMatchObject({ code: 0, stdout: '', stderr: '' })
    const show = ckpt(dir, ['show'])
    expect(show.code).toBe(4)
    expect(show.stderr).toContain('no checkpoints yet')
    expect(ckpt(dir, ['checkout', 'main'])).toMatchObject({ code: 0, stdout: "Already on timeline 'main' (no checkpoints yet)\n" })
    expect(ckpt(dir, ['show', 'main']).stderr).toContain('timeline "main" has no checkpoints yet')
  })
})

describe('issue 21: the verbs git users reach for', () => {
  it('log -p, --stat, --format, -N, --reverse, --author, --since and -- STAGE (item 13)', () => {
    const { dir, run } = twoTimelines()
    expect(run('log', '-1', '--format', '%s|%S|%N')).toBe('first report|report|2')
    expect(run('log', '--reverse', '--format', '%s')).toBe('first detect\nfirst report')
    expect(run('log', '--all', '--oneline', '--', 'detect').split('\n')).toHaveLength(2)
    expect(run('log', 'strict', '-1', '-p')).toContain('detect (json)\n+ /m  [1]\n  /n  1 → 2')
    expect(run('log', 'strict', '-1', '--stat', '--oneline')).toMatch(/stricter\nM detect  2 paths \(\+1 -0 ~1\)/)
    expect(run('log', '--author', 'NOBODY-here')).toBe('')
    expect(run('log', '--since', '2 days ago', '--format', '%h').split('\n')).toHaveLength(2)
    expect(run('log', '--until', '2 days ago', '--format', '%h')).toBe('')
    expect(ckpt(dir, ['log', '--since', 'someday']).code).toBe(2)
  })

  it('diff A:STAGE B:STAGE compares two outputs, and --stat counts paths (item 13)', () => {
    const { run } = twoTimelines()
    expect(run('diff', 'main:detect', 'strict:detect')).toBe('1 changed, 0 added, 0 removed, 0 unchanged\nM detect\n\ndetect (json)\n+ /m  [1]\n  /n  1 → 2')
    expect(run('diff', 'main~1:detect', 'main:report', '--stat')).toContain('M detect → report')
    expect(run('diff', 'main', 'strict', '--stat')).toBe('1 changed, 0 added, 0 removed, 1 unchanged\nM detect  2 paths (+1 -0 ~1)')
  })

  it('writes errors as JSON on stderr with --json (item 17)', () => {
    const { dir } = twoTimelines()
    const r = ckpt(dir, ['show', 'nosuch', '--json'])
    expect(r.code).toBe(4)
    expect(JSON.parse(r.stderr)).toEqual({ error: { code: 'NOT_FOUND', message: 'unknown revision "nosuch"', exit: 4 } })
    const usage = ckpt(dir, ['log', '-n', 'x', '--json'])
    expect(JSON.parse(usage.stderr)).toMatchObject({ error: { code: 'INVALID_ARGUMENT', exit: 2 } })
    // commit --json VALUE is a JSON literal, not the switch: its errors stay text; a bare --json is the switch.
    expect(ckpt(dir, ['commit', '-s', 'x', '--json', '{']).stderr).toMatch(/^ckpt: error: /)
    expect(JSON.parse(ckpt(dir, ['commit', '-s', 'x', '--file', 'nosuch', '--json']).stderr)).toMatchObject({ error: { code: 'NOT_FOUND', exit: 4 } })
    expect(ckpt(dir, ['commit', '-s', 'x', '--json', '1', '--json'])).toMatchObject({ code: 2, stdout: '' })
  })
})

describe('issue 21: docs match the program', () => {
  it('aligns ckpt timeline columns and prints one date format (item 18)', () => {
    const { dir, run } = twoTimelines()
    run('timeline', 'a-much-longer-name')
    const lines = ckpt(dir, ['timeline']).stdout.trimEnd().split('\n')
    const idColumn = lines.map((l) => l.search(/[0-9a-f]{10}/))
    expect(new Set(idColumn).size).toBe(1)
    expect(lines[0]).toMatch(/ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}$/)
    expect(run('reflog', '-n', '1')).toMatch(/ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}$/)
  })
})

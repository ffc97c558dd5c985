import { closeSync, openSync, readdirSync, writeFileSync, writeSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ckpt, ckptIn, jsonLines } from './support/cli.js'
import { pseudoRandomBytes } from './support/random.js'
import { tempDir } from './support/temp.js'

/** A store with six checkpoints on main and a deleted timeline "exp" with two of its own. */
function storeWithGarbage() {
  const dir = tempDir()
  const run = ckptIn(dir)
  run('init')
  const main = Array.from({ length: 6 }, (_, i) => run('commit', '-s', 'step', '--json', JSON.stringify({ i })))
  run('timeline', 'create', 'exp', 'main~2')
  run('commit', '--timeline', 'exp', '-s', 'side', '--json', '{"side":1}')
  run('commit', '--timeline', 'exp', '-s', 'side', '--json', '{"side":2}')
  run('timeline', 'delete', 'exp')
  return { dir, run, main }
}

describe('ckpt gc, reflog expire, retention, pin', () => {
  it('keeps a deleted timeline until its reflog expires, then frees it; --dry-run first says how much', () => {
    const { dir, run } = storeWithGarbage()
    expect(JSON.parse(run('gc', '--prune=now', '--json')).freed).toEqual({ objects: 0, bytes: 0 })
    expect(run('reflog', 'expire', '--expire=now', 'exp')).toBe('expired 4 reflog entries in 1 reflog(s)')
    const dry = JSON.parse(run('gc', '--prune=now', '--dry-run', '--json')) as { dryRun: boolean; freed: { objects: number; bytes: number } }
    expect(dry.dryRun).toBe(true)
    expect(dry.freed.objects).toBe(4)
    expect(run('gc', '--prune=now')).toMatch(/^freed 4 object\(s\), \d+ B; 12 reachable or recent object\(s\) kept$/m)
    expect(JSON.parse(run('gc', '--prune=now', '--dry-run', '--json')).freed.objects).toBe(0)
    const restore = ckpt(dir, ['timeline', 'restore', 'exp'])
    expect(restore.code).toBe(4)
    expect(restore.stderr).toMatch(/no reflog to restore from/)
    expect(run('fsck')).toMatch(/no problems/)
  })

  it('keeps what the grace window protects by default', () => {
    const { run } = storeWithGarbage()
    run('reflog', 'expire', '--expire=now', '--', 'exp')
    expect(JSON.parse(run('gc', '--json')).freed.objects).toBe(0)
  })

  it('applies a retention policy, keeping pinned checkpoints, and marks where log history was cut', () => {
    const { dir, run, main } = storeWithGarbage()
    const pinned = run('rev-parse', 'main~4')
    expect(run('pin', 'main~4')).toBe(`Pinned ${pinned}`)
    // exp's reflog would keep main~2 alive (exp forked there); forget it so the cut shows.
    run('reflog', 'expire', '--expire=now', 'exp')
    expect(run('retention', 'main', '--keep-last', '2')).toBe('main: keep the last 2 (applied by ckpt gc)')
    expect(jsonLines(run('retention', '--json'))).toEqual([{ timeline: 'main', keepLast: 2 }])
    expect(run('gc', '--prune=now')).toMatch(/retention: main keeps 4 checkpoint\(s\), drops 2, history cut at 1/)
    const log = run('log', '--oneline').split('\n')
    expect(log).toHaveLength(2)
    expect(log[1]).toMatch(new RegExp(`^${main[4]} step \\(history cut here: older checkpoints were dropped by retention\\)$`))
    const json = jsonLines(run('log', '--json'))
    expect(json.map((c) => c.historyCut ?? false)).toEqual([false, true])
    expect(run('show', 'main~1')).toMatch(/history cut here/)
    expect(JSON.parse(run('show', 'main~1', '--json')).historyCut).toBe(true)
    expect(jsonLines(run('pin', '--json'))).toEqual([{ id: pinned }])
    expect(run('log', '--oneline', pinned).split('\n')).toHaveLength(2)
    expect(run('fsck')).toMatch(/no problems/)
    expect(run('unpin', pinned)).toBe(`Unpinned ${pinned}`)
    expect(ckpt(dir, ['unpin', pinned]).code).toBe(4)
  })

  it('refuses a bad --prune, --expire and --keep-within with a usage error naming the value', () => {
    const { dir } = storeWithGarbage()
    for (const args of [['gc', '--prune=soon'], ['reflog', 'expire', '--expire=yesterday-ish'], ['retention', 'main', '--keep-within', 'forever']]) {
      const r = ckpt(dir, args)
      expect(r.code).toBe(2)
      expect(r.stderr).toMatch(/is not an age/)
    }
  })

  it('reports a pack whose index disagrees with it, and exits 1', () => {
    const dir = tempDir()
    expect(ckpt(dir, ['init']).code).toBe(0)
    const file = path.join(dir, 'big.bin')
    writeFileSync(file, pseudoRandomBytes(2 * 1024 * 1024, 9))
    expect(ckpt(dir, ['commit', '-s', 'video', '--file', file]).code).toBe(0)
    const packs = path.join(dir, '.ckpt', 'packs')
    const [pack] = readdirSync(packs)
    // Overwrite the key of the first record, just after the 12-byte header and 4-byte key length.
    const fd = openSync(path.join(packs, pack!), 'r+')
    writeSync(fd, Buffer.from([0xee, 0xee]), 0, 2, 12 + 4 + 5)
    closeSync(fd)
    const r = ckpt(dir, ['fsck', '--quick', '--json'])
    expect(r.code).toBe(1)
    const report = JSON.parse(r.stdout) as { problems: Array<{ message: string; ref: string }> }
    expect(report.problems.some((p) => /holds a different key/.test(p.message) && p.ref === '(storage index)')).toBe(true)
  })

  it('offers --help with examples on each maintenance and sync command', () => {
    const dir = tempDir()
    for (const command of ['gc', 'retention', 'pin', 'unpin', 'reflog', 'export', 'import', 'remote', 'push', 'fetch', 'pull', 'clone']) {
      const r = ckpt(dir, [command, '--help'])
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/Examples:/)
    }
  })
})

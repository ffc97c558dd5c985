import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ckpt } from './support/cli.js'
import { tempDir } from './support/temp.js'

/** A project with one checkpoint on main, beside a plain file, a link to a folder and a dangling link. */
function project() {
  const dir = tempDir()
  expect(ckpt(dir, ['init']).code).toBe(0)
  expect(ckpt(dir, ['commit', '-s', 'detect', '--json', '-'], { input: '{"a":1}' }).code).toBe(0)
  writeFileSync(path.join(dir, 'notes.txt'), 'mine')
  mkdirSync(path.join(dir, 'elsewhere'))
  symlinkSync(path.join(dir, 'elsewhere'), path.join(dir, 'dir-link'))
  symlinkSync(path.join(dir, 'nowhere'), path.join(dir, 'dangling-link'))
  return dir
}

/** A path that makes mkdir -p loop (/proc) must not hang the test run. */
const NO_HANG = { timeoutMs: 20_000 }

/** Exit 2 (INVALID_ARGUMENT) or 4 (NOT_FOUND), one line naming the path: never exit 70. */
function expectPathError(result: ReturnType<typeof ckpt>, named: string): void {
  expect([2, 4], result.stderr).toContain(result.code)
  expect(result.stderr).toContain(named)
  expect(result.stderr.trim().split('\n')).toHaveLength(1)
}

describe('export --git and import --git name a path that cannot be a repository', () => {
  for (const target of ['notes.txt', 'notes.txt/repo', '/dev/null', '/dev/null/repo', '/proc/nope/repo']) {
    it(`export --git ${target} is a clear error and leaves what is there alone`, () => {
      const dir = project()
      expectPathError(ckpt(dir, ['export', '--git', target], NO_HANG), target)
      expect(readFileSync(path.join(dir, 'notes.txt'), 'utf8')).toBe('mine')
    })

    it(`import --git ${target} main is a clear error`, () => {
      expectPathError(ckpt(project(), ['import', '--git', target, 'main'], NO_HANG), target)
    })
  }

  for (const link of ['dir-link', 'dangling-link']) {
    it(`export --git onto a symlink (${link}) is refused and writes nothing where it points`, () => {
      const dir = project()
      expectPathError(ckpt(dir, ['export', '--git', link], NO_HANG), link)
      expect(readdirSync(path.join(dir, 'elsewhere'))).toEqual([])
      expect(existsSync(path.join(dir, 'nowhere'))).toBe(false)
      expect(lstatSync(path.join(dir, link)).isSymbolicLink()).toBe(true)
    })
  }

  it('export --git creates missing parent folders, and import --git reads the mirror back', () => {
    const dir = project()
    expect(ckpt(dir, ['export', '--git', 'a/b/mirror.git']).code).toBe(0)
    const other = tempDir()
    expect(ckpt(other, ['init']).code).toBe(0)
    const imported = ckpt(other, ['import', '--git', path.join(dir, 'a/b/mirror.git'), 'main'])
    expect(imported.code, imported.stderr).toBe(0)
  })
})

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import * as dagJson from '@ipld/dag-json'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ckpt } from './support/cli.js'
import { git, gitFsck } from './support/git.js'
import { tempDir } from './support/temp.js'
import { CID } from '../src/model/cid.js'
import { encodeNode } from '../src/model/value.js'

/** A ckpt mirror, a store that imported it, and a clone to add commits to it with the real git. */
function mirrorAndImporter(): { mirror: string; store: string; clone: string; head: string } {
  const source = tempDir()
  expect(ckpt(source, ['init']).code).toBe(0)
  expect(ckpt(source, ['commit', '-s', 'good', '--json', '-'], { input: '{"a":1}' }).code).toBe(0)
  const mirror = path.join(tempDir(), 'mirror.git')
  expect(ckpt(source, ['export', '--git', mirror]).code).toBe(0)
  const store = tempDir()
  expect(ckpt(store, ['init']).code).toBe(0)
  const first = ckpt(store, ['import', '--git', mirror, 'main'])
  expect(first.code, first.stderr).toBe(0)
  const head = ckpt(store, ['rev-parse', 'main']).stdout.trim()
  const clone = path.join(tempDir(), 'clone')
  git(path.dirname(clone), ['clone', '-q', mirror, clone])
  return { mirror, store, clone, head }
}

// Names git stores without complaint that a ckpt stage name may not have.
const badNames: Array<[string, string]> = [
  ['a control character', 'tab\there'],
  ['a backslash', 'a\\b'],
  ['more than 200 characters', 'x'.repeat(201)],
  ['surrounding whitespace', ' padded'],
]

/** Adds a mirror commit whose checkpoint node has one more stage, `name`, holding the `good` stage's output. */
function pushStage(clone: string, head: string, name: string, extra: Record<string, unknown> = {}): void {
  // The checkpoint node in .ckpt/checkpoint is what import reads: give it a stage under the name.
  const nodeFile = path.join(clone, '.ckpt', 'checkpoint')
  const previous = dagJson.decode<{ stages: Record<string, CID> }>(readFileSync(nodeFile))
  const next = { ...previous, parents: [CID.parse(head)], stages: { ...previous.stages, [name]: previous.stages.good }, message: 'by hand', ...extra }
  writeFileSync(nodeFile, encodeNode(next))
  writeFileSync(path.join(clone, name), readFileSync(path.join(clone, 'good')))
  git(clone, ['add', '-A'])
  git(clone, ['commit', '-q', '-m', 'stage by hand'])
  git(clone, ['push', '-q', 'origin', 'HEAD:main'])
}

describe('stage names that arrive in a git mirror are checked like names a user types', () => {
  it('imports such a commit when the stage name is valid (the control case)', () => {
    const { mirror, store, clone, head } = mirrorAndImporter()
    pushStage(clone, head, 'fine')
    const result = ckpt(store, ['import', '--git', mirror, 'main'])
    expect(result.code, result.stderr).toBe(0)
    expect(ckpt(store, ['rev-parse', 'main']).stdout.trim()).not.toBe(head)
  })

  for (const [label, name] of badNames) {
    it(`refuses a mirror commit whose checkpoint has a stage name with ${label}, moving no ref`, () => {
      const { mirror, store, clone, head } = mirrorAndImporter()
      pushStage(clone, head, name)
      const result = ckpt(store, ['import', '--git', mirror, 'main'])
      expect(result.code, result.stderr).toBe(8)
      expect(ckpt(store, ['rev-parse', 'main']).stdout.trim()).toBe(head)
      const fsck = ckpt(store, ['fsck'])
      expect(fsck.code, fsck.stderr).toBe(0)
    })
  }
})

describe('run and job ids that arrive in a git mirror are checked like ids given to commit', () => {
  for (const field of ['run', 'job']) {
    it(`refuses a mirror commit whose checkpoint has a ${field} id with a terminal escape, moving no ref`, () => {
      const { mirror, store, clone, head } = mirrorAndImporter()
      pushStage(clone, head, 'fine', { [field]: 'a\u001b[2Jb' })
      const result = ckpt(store, ['import', '--git', mirror, 'main'])
      expect(result.code, result.stderr).toBe(8)
      expect(ckpt(store, ['rev-parse', 'main']).stdout.trim()).toBe(head)
    })
  }
})

describe('export --git of names the rules allow and git dislikes', () => {
  it('writes a repository git fsck --strict accepts for stages and folder entries named .git, .gitmodules or differing only in case', () => {
    const dir = tempDir()
    expect(ckpt(dir, ['init']).code).toBe(0)
    for (const stage of ['.git', '.gitmodules', 'Good', 'good']) expect(ckpt(dir, ['commit', '-s', stage, '-'], { input: stage }).code).toBe(0)
    const folder = path.join(dir, 'folder')
    for (const file of ['.git/config', '.gitmodules', 'sub/.GIT/x', 'q/.Gitmodules']) {
      mkdirSync(path.dirname(path.join(folder, file)), { recursive: true })
      writeFileSync(path.join(folder, file), file)
    }
    expect(ckpt(dir, ['commit', '-s', 'files', '--dir', folder]).code).toBe(0)
    const mirror = path.join(tempDir(), 'mirror.git')
    const exported = ckpt(dir, ['export', '--git', mirror])
    expect(exported.code, exported.stderr).toBe(0)
    const fsck = gitFsck(mirror)
    expect(fsck.code, fsck.output).toBe(0)
  })
})

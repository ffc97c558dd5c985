import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { openStore } from '../src/index.js'
import { ckpt } from './support/cli.js'
import { plantCheckpoint } from './support/plant.js'
import { tempDir } from './support/temp.js'

/** A store whose main timeline was pointed, behind ckpt's back, at a checkpoint with a bad stage name. */
async function storeWithPlantedName(name: string, extra: Record<string, unknown> = {}): Promise<{ dir: string; head: string }> {
  const dir = tempDir()
  expect(ckpt(dir, ['init']).code).toBe(0)
  expect(ckpt(dir, ['commit', '-s', 'good', '--json', '-'], { input: '{"a":1}' }).code).toBe(0)
  const store = await openStore(path.join(dir, '.ckpt'))
  const parent = (await store.timelines.get('main'))!
  await store.close()
  const { head } = await plantCheckpoint(path.join(dir, '.ckpt'), parent, name, extra)
  return { dir, head }
}

describe('a bad name already inside a store', () => {
  for (const name of ['../../x', '/abs', '', 'a\u0000b', '.']) {
  it(`${JSON.stringify(name)} is a problem fsck reports (exit 1), and show and log say CORRUPT_OBJECT (exit 8)`, async () => {
    const { dir, head } = await storeWithPlantedName(name)
    const fsck = ckpt(dir, ['fsck', '--json'])
    expect(fsck.code, fsck.stderr).toBe(1)
    expect(fsck.stdout).toContain(head)
    const show = ckpt(dir, ['show', 'main'])
    expect(show.code, show.stderr).toBe(8)
    const log = ckpt(dir, ['log'])
    expect(log.code, log.stderr).toBe(8)
    const again = ckpt(dir, ['fsck'])
    expect(again.code, again.stderr).toBe(1)
  })
  }
})

describe('a run or job id with control characters already inside a store (written before ids were checked)', () => {
  it('show and log print it escaped, never the raw characters, and log --json carries it intact', async () => {
    const { dir } = await storeWithPlantedName('fine', { run: 'r\u001b[2J\u0000', job: 'j\u0007' })
    for (const args of [['show'], ['log'], ['log', '--oneline']]) {
      const result = ckpt(dir, args)
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).not.toMatch(/[\u0000\u0007\u001b]/)
      expect(result.stdout).toContain('r\\u001b[2J\\u0000')
    }
    const json = ckpt(dir, ['log', '--json', '-n', '1'])
    expect(JSON.parse(json.stdout.trim())).toMatchObject({ run: 'r\u001b[2J\u0000', job: 'j\u0007' })
  })
})

describe('a message or author with control characters (free text, which imports carry as they are)', () => {
  it('show and log print them escaped, keep tabs and line breaks, and log --json carries them intact', async () => {
    const dir = tempDir()
    expect(ckpt(dir, ['init']).code).toBe(0)
    const message = 'title\u001b]0;owned\u0007\tx\nbody \u001b[2J line'
    const author = 'eve\u001b[31m'
    const store = await openStore(path.join(dir, '.ckpt'), { author })
    await store.commit({ stage: 's', output: 1, message })
    await store.close()
    for (const args of [['show'], ['log'], ['log', '--oneline']]) {
      const result = ckpt(dir, args)
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/)
      expect(result.stdout).toContain('title\\u001b]0;owned\\u0007\tx')
    }
    expect(ckpt(dir, ['log', '--oneline']).stdout).not.toContain('body')
    const long = ckpt(dir, ['show']).stdout
    expect(long).toContain('    body \\u001b[2J line')
    expect(long).toContain('Author: eve\\u001b[31m')
    const json = ckpt(dir, ['log', '--json', '-n', '1'])
    expect(JSON.parse(json.stdout.trim())).toMatchObject({ message, author })
  })
})

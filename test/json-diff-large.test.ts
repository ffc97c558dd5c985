import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { diffJson } from '../src/diff/json-diff.js'
import { diffLines } from '../src/diff/text-diff.js'
import { tempDir } from './support/temp.js'

const ARRAY_DIFF = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/test/fixtures/array-diff.js')
const MILLION = 1_000_000
const item = (i: number) => ({ id: i, score: (i * 7) % 101 })
const items = (length: number) => Array.from({ length }, (_, i) => item(i))
/** Ten indices spread through the middle of a million-item array, ascending. */
const spread = Array.from({ length: 10 }, (_, k) => 400_000 + k * 20_000)

describe('diffJson on arrays of a million items', () => {
  it('reports ten items removed from the middle as exactly ten removes, at their indices in from', () => {
    const from = items(MILLION)
    const gone = new Set(spread)
    const to = from.filter((_, i) => !gone.has(i))
    expect(diffJson({ items: from }, { items: to })).toEqual(
      [...spread].reverse().map((i) => ({ op: 'remove', path: `/items/${i}`, oldValue: from[i] })),
    )
  })

  it('reports ten items inserted in the middle as exactly ten adds, at their indices in to', () => {
    const from = items(MILLION)
    const to = [...from]
    spread.forEach((at, k) => to.splice(at, 0, { id: -1 - k, score: -1 }))
    expect(diffJson(from, to)).toEqual(spread.map((at, k) => ({ op: 'add', path: `/${at}`, value: { id: -1 - k, score: -1 } })))
  })

  it('reports a run of five items moved far along as five removes and five adds', () => {
    const from = items(MILLION)
    const run = from.slice(100_000, 100_005)
    const to = [...from.slice(0, 100_000), ...from.slice(100_005, 800_000), ...run, ...from.slice(800_000)]
    expect(diffJson(from, to)).toEqual([
      ...[4, 3, 2, 1, 0].map((k) => ({ op: 'remove', path: `/${100_000 + k}`, oldValue: run[k] })),
      ...[0, 1, 2, 3, 4].map((k) => ({ op: 'add', path: `/${799_995 + k}`, value: run[k] })),
    ])
  })

  it('reports an edited item between removals as a change inside it', () => {
    const from = items(MILLION)
    const to = from.filter((_, i) => i !== 300_000 && i !== 700_000)
    to[499_999] = { id: 500_000, score: 1000 }
    expect(diffJson(from, to)).toEqual([
      { op: 'replace', path: '/500000/score', oldValue: from[500_000]!.score, value: 1000 },
      { op: 'remove', path: '/700000', oldValue: from[700_000] },
      { op: 'remove', path: '/300000', oldValue: from[300_000] },
    ])
  })
})

describe('diff of two stored outputs with a million-item array', () => {
  it('reports the ten removed items with a 256 MB heap', () => {
    const dir = path.join(tempDir('ckpt-array-diff-'), 'store')
    const commit = spawnSync(process.execPath, [ARRAY_DIFF, 'commit', dir, String(MILLION), '10'], { encoding: 'utf8' })
    expect(commit.status, commit.stderr).toBe(0)
    const diff = spawnSync(process.execPath, ['--max-old-space-size=256', ARRAY_DIFF, 'diff', dir], { encoding: 'utf8' })
    expect(diff.status, diff.stderr.slice(0, 2000)).toBe(0)
    const result = JSON.parse(diff.stdout) as { changes: number; removedPaths: string[] }
    expect(result.changes).toBe(10)
    expect(result.removedPaths).toEqual(Array.from({ length: 10 }, (_, k) => `/items/${500_000 + (9 - k) * 1000}`))
  }, 120_000)
})

describe('line diff of large texts', () => {
  it('shows two lines changed far apart in a 100,000-line text as two small hunks', () => {
    const lines = Array.from({ length: 100_000 }, (_, i) => `line ${i}`)
    const edited = [...lines]
    edited[20_000] = 'changed A'
    edited.splice(80_000, 1)
    const hunks = diffLines(lines.join('\n') + '\n', edited.join('\n') + '\n')
    expect(hunks.map((h) => h.lines.filter((l) => !l.startsWith(' ')))).toEqual([
      ['-line 20000', '+changed A'],
      ['-line 80000'],
    ])
    expect(hunks.map((h) => [h.fromStart, h.fromLines, h.toStart, h.toLines])).toEqual([
      [19_998, 7, 19_998, 7],
      [79_998, 7, 79_998, 6],
    ])
  })
})

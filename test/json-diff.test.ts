import { describe, expect, it } from 'vitest'
import { CkptError } from '../src/errors.js'
import { diffJson, equalLeaves, escapePointerToken, formatPointer, type JsonChange } from '../src/diff/json-diff.js'

/** An opaque leaf compared through its own `equals` method, standing in for a CID. */
class Handle {
  constructor(readonly id: string) {}
  equals(other: unknown): boolean {
    return other instanceof Handle && other.id === this.id
  }
}

/** Minimal RFC 6902 applier (add/remove/replace only), to check that a diff is a patch that applies in order. */
function applyPatch(document: unknown, changes: readonly JsonChange[]): unknown {
  let root = structuredClone(document)
  for (const change of changes) {
    if (change.path === '') {
      root = change.op === 'remove' ? undefined : structuredClone(change.value)
      continue
    }
    const tokens = change.path.slice(1).split('/').map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'))
    const last = tokens.pop() as string
    const parent = tokens.reduce<any>((node, token) => node[Array.isArray(node) ? Number(token) : token], root)
    if (Array.isArray(parent)) {
      const index = Number(last)
      if (change.op === 'add') parent.splice(index, 0, structuredClone(change.value))
      else if (change.op === 'remove') parent.splice(index, 1)
      else parent[index] = structuredClone(change.value)
    } else if (change.op === 'remove') {
      delete parent[last]
    } else {
      parent[last] = structuredClone(change.value)
    }
  }
  return root
}

describe('diffJson', () => {
  it('reports nothing for equal values', () => {
    const value = () => ({ a: [1, { b: 'x', c: null }], d: true, e: new Uint8Array([1, 2]), f: new Handle('h') })
    expect(diffJson(value(), value())).toEqual([])
    expect(diffJson(null, null)).toEqual([])
    expect(diffJson([], [])).toEqual([])
  })

  it('treats key order as irrelevant', () => {
    expect(diffJson({ a: 1, b: 2 }, { b: 2, a: 1 })).toEqual([])
  })

  it('replaces a scalar at the root', () => {
    expect(diffJson(1, 2)).toEqual([{ op: 'replace', path: '', oldValue: 1, value: 2 }])
    expect(diffJson('1', 1)).toEqual([{ op: 'replace', path: '', oldValue: '1', value: 1 }])
  })

  it('reports a nested edit at its own path', () => {
    const detections = (score: number) => [
      { label: 'cat', score: 0.1 },
      { label: 'dog', score: 0.2 },
      { label: 'cow', score: 0.3 },
      { label: 'owl', score },
    ]
    expect(diffJson({ detections: detections(0.4) }, { detections: detections(0.9) })).toEqual([
      { op: 'replace', path: '/detections/3/score', oldValue: 0.4, value: 0.9 },
    ])
  })

  it('reports added and removed keys, in key order', () => {
    expect(diffJson({ a: 1, b: 2, d: { x: 1 } }, { b: 2, c: 3, d: {} })).toEqual([
      { op: 'remove', path: '/a', oldValue: 1 },
      { op: 'add', path: '/c', value: 3 },
      { op: 'remove', path: '/d/x', oldValue: 1 },
    ])
  })

  it('reports an item inserted in the middle of an array as one add', () => {
    expect(diffJson([1, 2, 3, 4], [1, 2, 9, 3, 4])).toEqual([{ op: 'add', path: '/2', value: 9 }])
    const boxes = [{ id: 1 }, { id: 2 }, { id: 3 }]
    expect(diffJson({ boxes }, { boxes: [boxes[0], { id: 7 }, boxes[1], boxes[2]] })).toEqual([
      { op: 'add', path: '/boxes/1', value: { id: 7 } },
    ])
  })

  it('reports an item deleted from an array as one remove', () => {
    expect(diffJson(['a', 'b', 'c', 'd'], ['a', 'c', 'd'])).toEqual([{ op: 'remove', path: '/1', oldValue: 'b' }])
    expect(diffJson([{ id: 1 }, { id: 2 }, { id: 3 }], [{ id: 2 }, { id: 3 }])).toEqual([
      { op: 'remove', path: '/0', oldValue: { id: 1 } },
    ])
  })

  it('lists removes by descending index in from, then adds by ascending index in to', () => {
    expect(diffJson([0, 1, 2, 3, 4], [0, 2, 4, 5, 6])).toEqual([
      { op: 'remove', path: '/3', oldValue: 3 },
      { op: 'remove', path: '/1', oldValue: 1 },
      { op: 'add', path: '/3', value: 5 },
      { op: 'add', path: '/4', value: 6 },
    ])
  })

  it('diffs a changed item in place, at its index in from, before any add that shifts it', () => {
    const from = [{ id: 1 }, { id: 2 }, { id: 3, s: 3 }]
    const to = [{ id: 0 }, { id: 1 }, { id: 2 }, { id: 3, s: 9 }]
    expect(diffJson(from, to)).toEqual([
      { op: 'replace', path: '/2/s', oldValue: 3, value: 9 },
      { op: 'add', path: '/0', value: { id: 0 } },
    ])
  })

  it('replaces a changed scalar item in place', () => {
    expect(diffJson([1, 2, 3], [1, 5, 3])).toEqual([{ op: 'replace', path: '/1', oldValue: 2, value: 5 }])
  })

  it('replaces a value whose type changes', () => {
    expect(diffJson({ a: { x: 1 } }, { a: [1] })).toEqual([{ op: 'replace', path: '/a', oldValue: { x: 1 }, value: [1] }])
    expect(diffJson({ a: [1] }, { a: 'one' })).toEqual([{ op: 'replace', path: '/a', oldValue: [1], value: 'one' }])
    expect(diffJson({ a: {} }, { a: null })).toEqual([{ op: 'replace', path: '/a', oldValue: {}, value: null }])
    expect(diffJson([{}], [[]])).toEqual([{ op: 'replace', path: '/0', oldValue: {}, value: [] }])
  })

  it("escapes '/' and '~' in keys", () => {
    expect(diffJson({ 'a/b': 1, 'm~n': { '~/': 1 } }, { 'a/b': 2, 'm~n': { '~/': 2 } })).toEqual([
      { op: 'replace', path: '/a~1b', oldValue: 1, value: 2 },
      { op: 'replace', path: '/m~0n/~0~1', oldValue: 1, value: 2 },
    ])
  })

  it('compares Uint8Array leaves by bytes', () => {
    expect(diffJson({ b: new Uint8Array([1, 2, 3]) }, { b: new Uint8Array([1, 2, 3]) })).toEqual([])
    expect(diffJson({ b: Buffer.from([1, 2, 3]) }, { b: new Uint8Array([1, 2, 3]) })).toEqual([])
    const oldBytes = new Uint8Array([1, 2, 3])
    const newBytes = new Uint8Array([1, 2, 4])
    expect(diffJson({ b: oldBytes }, { b: newBytes })).toEqual([
      { op: 'replace', path: '/b', oldValue: oldBytes, value: newBytes },
    ])
  })

  it('aligns array items that are opaque leaves', () => {
    const items = [new Uint8Array([1]), new Handle('a'), new Uint8Array([2])]
    const copies = [new Uint8Array([1]), new Handle('a'), new Uint8Array([2])]
    expect(diffJson(items, [copies[0], copies[2]])).toEqual([{ op: 'remove', path: '/1', oldValue: items[1] }])
  })

  it('compares leaves with an equals method through it', () => {
    expect(diffJson({ h: new Handle('x') }, { h: new Handle('x') })).toEqual([])
    const from = new Handle('x')
    const to = new Handle('y')
    expect(diffJson({ h: from }, { h: to })).toEqual([{ op: 'replace', path: '/h', oldValue: from, value: to }])
  })

  it('stops after maxChanges changes', () => {
    const from = { a: 1, b: [1, 2], c: 3 }
    const to = { a: 9, b: [8, 7], c: 6 }
    expect(diffJson(from, to, { maxChanges: 2 })).toEqual([
      { op: 'replace', path: '/a', oldValue: 1, value: 9 },
      { op: 'replace', path: '/b/0', oldValue: 1, value: 8 },
    ])
    expect(diffJson(from, to, { maxChanges: 0 })).toEqual([])
    expect(diffJson(from, to, { maxChanges: 100 })).toHaveLength(4)
  })

  it.each([-1, 1.5, Number.NaN])('rejects maxChanges %s', (maxChanges) => {
    let error: unknown
    try {
      diffJson(1, 2, { maxChanges })
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(CkptError)
    expect((error as CkptError).code).toBe('INVALID_ARGUMENT')
  })

  it('aligns arrays needing more than one search of 2,000 edits, item by item', () => {
    const from = Array.from({ length: 100_000 }, (_, i) => i)
    const gone = (i: number) => i % 40 === 7
    const to = from.filter((i) => !gone(i))
    const removed = from.filter(gone).reverse()
    expect(removed).toHaveLength(2500)
    expect(diffJson(from, to)).toEqual(removed.map((i) => ({ op: 'remove', path: `/${i}`, oldValue: i })))
    // A shared item moved from the end to the front, past 2,000 other items on each side.
    const moved = { from: [...Array.from({ length: 1500 }, (_, i) => `x${i}`), 'shared'], to: ['shared', ...Array.from({ length: 1500 }, (_, i) => `y${i}`)] }
    const changes = diffJson(moved.from, moved.to)
    expect(applyPatch(moved.from, changes)).toEqual(moved.to)
  })

  it('handles values 1000 levels deep', () => {
    const nest = (leaf: unknown) => {
      let value: unknown = leaf
      for (let depth = 0; depth < 1000; depth++) value = depth % 2 === 0 ? [value] : { k: value }
      return value
    }
    expect(diffJson(nest(1), nest(2))).toEqual([
      { op: 'replace', path: '/k/0'.repeat(500), oldValue: 1, value: 2 },
    ])
  })

  it('produces a patch that turns from into to when applied in order', () => {
    let seed = 42
    const random = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
      return seed % n
    }
    const randomItem = () => (random(3) === 0 ? { id: random(5), tags: [random(3), random(3)] } : random(6))
    for (let round = 0; round < 200; round++) {
      const from = Array.from({ length: random(8) }, randomItem)
      const to = Array.from({ length: random(8) }, randomItem)
      const document = { items: from, meta: { n: from.length } }
      const target = { items: to, meta: { n: to.length } }
      expect(applyPatch(document, diffJson(document, target))).toEqual(target)
    }
  })
})

describe('equalLeaves', () => {
  it('compares bytes, equals methods, and otherwise identity', () => {
    expect(equalLeaves(new Uint8Array([1]), new Uint8Array([1]))).toBe(true)
    expect(equalLeaves(new Uint8Array([1]), new Uint8Array([1, 0]))).toBe(false)
    expect(equalLeaves(Buffer.from([1]), new Handle('x'))).toBe(false)
    expect(equalLeaves(new Handle('x'), new Handle('x'))).toBe(true)
    expect(equalLeaves(new Date(0), new Date(0))).toBe(false)
    expect(equalLeaves('a', 'a')).toBe(true)
  })
})

describe('JSON Pointer helpers', () => {
  it('escapes tokens per RFC 6901', () => {
    expect(escapePointerToken('a/b~c')).toBe('a~1b~0c')
    expect(escapePointerToken('~1')).toBe('~01')
    expect(escapePointerToken('')).toBe('')
  })

  it('formats token lists', () => {
    expect(formatPointer([])).toBe('')
    expect(formatPointer(['detections', 3, 'score'])).toBe('/detections/3/score')
    expect(formatPointer(['a/b', '', '~'])).toBe('/a~1b//~0')
  })
})

import { createReadStream, mkdirSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { Directory, readDirectory } from '../src/index.js'
import { tempDir, tempStore } from './support/temp.js'

const MiB = 1024 * 1024
const text = (s: string) => new TextEncoder().encode(s)
const rising = (seen: number[]) => seen.every((n, i) => i === 0 || n >= (seen[i - 1] as number))

describe('byte counts for progress bars', () => {
  it('checkout with onBytes counts every byte written, rising, up to the total of all files, into a new folder and into one already used', async () => {
    const { store } = await tempStore()
    const big = new Uint8Array(5 * MiB).map((_, i) => (i * 7919) % 251)
    const files = new Map(Array.from({ length: 40 }, (_, i) => [`f${i}.txt`, text(`file ${i}\n`)] as const))
    await store.commit({ outputs: { big, frames: new Directory(files), report: { n: 1, video: text('bytes inside JSON') } } })
    const target = path.join(tempDir(), 'out')
    for (const round of ['new folder', 'used folder']) {
      const seen: Array<[number, number]> = []
      const { written } = await store.restore('main', { to: target, onBytes: (done, total) => seen.push([done, total]) })
      expect(written.length).toBe(43)
      const total = seen[0]?.[1] ?? 0
      const onDisk = written.reduce((sum, name) => sum + statSync(path.join(target, name)).size, 0)
      expect({ round, total }).toEqual({ round, total: onDisk })
      expect(seen.every(([, t]) => t === total)).toBe(true)
      expect(seen.at(-1)).toEqual([total, total])
      expect(rising(seen.map(([done]) => done))).toBe(true)
      // A 5 MiB file is reported as it is written, not once at its end.
      expect(seen.filter(([done]) => done < 5 * MiB).length).toBeGreaterThan(2)
    }
  })

  it('commit with onBytes counts a streamed file as it is stored, and again as it is hashed when unchanged', async () => {
    const { store } = await tempStore()
    const file = path.join(tempDir(), 'weights.bin')
    writeFileSync(file, new Uint8Array(9 * MiB).map((_, i) => (i * 31) % 253))
    for (const round of ['stored', 'hashed']) {
      const seen: number[] = []
      await store.commit({ stage: 'weights', output: createReadStream(file), onBytes: (n) => seen.push(n) })
      expect({ round, last: seen.at(-1), rising: rising(seen), steps: seen.length > 1 }).toEqual({ round, last: 9 * MiB, rising: true, steps: true })
    }
  })

  it('readDirectory with onBytes counts the bytes read, file by file, up to the folder\'s total', async () => {
    const dir = tempDir()
    mkdirSync(path.join(dir, 'sub'))
    writeFileSync(path.join(dir, 'a.txt'), 'aaaa')
    writeFileSync(path.join(dir, 'sub', 'b.bin'), new Uint8Array(1000))
    const seen: number[] = []
    await readDirectory(dir, { onBytes: (n) => seen.push(n) })
    expect(seen).toEqual([4, 1004])
  })
})

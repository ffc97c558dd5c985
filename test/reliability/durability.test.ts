import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { tempDir } from '../support/temp.js'

const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/test/reliability/fixtures/durable-writer.js')

/** One system call as strace saw it: where it started and ended in the trace, and on what. */
interface Call {
  readonly name: string
  /** The file the call works on (`fd</path>` with -y), or the first path argument. */
  readonly file: string
  /** rename's target. */
  readonly to?: string
  readonly start: number
  readonly end: number
}

/**
 * Parses `strace -f -y` output. A call interrupted by another thread appears as
 * `name(args <unfinished ...>` and later `<... name resumed> ...`; both halves are joined.
 */
function parseTrace(text: string): Call[] {
  const calls: Call[] = []
  const open = new Map<string, { name: string; args: string; start: number }>()
  text.split('\n').forEach((line, index) => {
    const resumed = /^(\d+)\s+<\.\.\. (\w+) resumed>/.exec(line)
    if (resumed) {
      const begun = open.get(`${resumed[1]} ${resumed[2]}`)
      if (begun) calls.push({ ...callTarget(begun.name, begun.args), start: begun.start, end: index })
      return
    }
    const call = /^(\d+)\s+(\w+)\((.*)$/.exec(line)
    if (!call) return
    const [, pid, name, rest] = call as unknown as [string, string, string, string]
    if (rest.endsWith('<unfinished ...>')) open.set(`${pid} ${name}`, { name, args: rest, start: index })
    else calls.push({ ...callTarget(name, rest), start: index, end: index })
  })
  return calls
}

function callTarget(name: string, args: string): { name: string; file: string; to?: string } {
  if (name === 'rename') {
    const [, from, to] = /^"([^"]*)", "([^"]*)"/.exec(args) ?? []
    return { name, file: from ?? '', ...(to !== undefined && { to }) }
  }
  const fd = /^\d+<([^>]*)>/.exec(args)
  const quoted = /"([^"]*)"/.exec(args)
  return { name, file: fd?.[1] ?? quoted?.[1] ?? '' }
}

const isSync = (c: Call) => c.name === 'fsync' || c.name === 'fdatasync'
const isWrite = (c: Call) => c.name === 'pwritev' || c.name === 'pwrite64' || c.name === 'write' || c.name === 'writev'

function traceDurableWriter(): { calls: Call[]; store: string; target: string } {
  const work = tempDir()
  const store = path.join(work, 'store')
  const target = path.join(work, 'out')
  const trace = path.join(work, 'trace')
  execFileSync('strace', ['-f', '-y', '-qq', '-e', 'trace=openat,mkdir,fsync,fdatasync,rename,pwritev,pwrite64,write,writev', '-o', trace, process.execPath, FIXTURE, store, target])
  return { calls: parseTrace(readFileSync(trace, 'utf8')), store, target }
}

describe('power loss: fsync order in fsync mode, read from strace', () => {
  const { calls, store, target } = traceDurableWriter()
  const packs = path.join(store, 'packs')

  it('fsyncs pack bytes before the LevelDB log write that makes their index durable', () => {
    const logSyncs = calls.filter((c) => isSync(c) && /\/db\/\d+\.log$/.test(c.file))
    const packWrites = calls.filter((c) => isWrite(c) && c.file.startsWith(packs))
    const packSyncs = calls.filter((c) => isSync(c) && c.file.startsWith(packs) && c.file.endsWith('.pack'))
    expect(packWrites.length).toBeGreaterThan(1)
    expect(logSyncs.length).toBeGreaterThan(1)
    for (const logSync of logSyncs) {
      for (const write of packWrites.filter((w) => w.end < logSync.start)) {
        const covered = packSyncs.some((s) => s.file === write.file && s.start > write.end && s.end < logSync.start)
        expect(covered, `pack write at trace line ${write.end} has no fsync before the log sync at line ${logSync.start}`).toBe(true)
      }
    }
  })

  it('fsyncs a new pack file and then its folder before anything indexes it', () => {
    const created = calls.find((c) => c.name === 'openat' && c.file.startsWith(packs) && c.file.endsWith('.pack'))!
    const fileSync = calls.find((c) => isSync(c) && c.file === created.file && c.start > created.end)!
    const dirSync = calls.find((c) => c.name === 'fsync' && c.file === packs && c.start > fileSync.end)!
    const firstIndexSync = calls.find((c) => isSync(c) && /\/db\/\d+\.log$/.test(c.file) && c.start > created.end)!
    expect(dirSync.end).toBeLessThan(firstIndexSync.start)
    // The packs folder itself is new: its name is made durable in the store folder first.
    const mkdir = calls.find((c) => c.name === 'mkdir' && c.file === packs)!
    expect(calls.some((c) => c.name === 'fsync' && c.file === store && c.start > mkdir.end && c.end < firstIndexSync.start)).toBe(true)
  })

  it('writes the store marker to a temporary name, fsyncs it, renames it, then fsyncs the folder', () => {
    const marker = path.join(store, 'ckpt-store.json')
    const rename = calls.find((c) => c.name === 'rename' && c.to === marker)!
    expect(calls.some((c) => isSync(c) && c.file === rename.file && c.end < rename.start)).toBe(true)
    expect(calls.some((c) => c.name === 'fsync' && c.file === store && c.start > rename.end)).toBe(true)
  })

  it('checkout fsyncs each file before renaming it into place, and the folder after', () => {
    const renames = calls.filter((c) => c.name === 'rename' && c.to?.startsWith(target))
    expect(renames.map((r) => path.basename(r.to!)).sort()).toEqual(['.ckpt-checkout.json', 'meta.json', 'video'])
    for (const rename of renames) {
      expect(calls.some((c) => isSync(c) && c.file === rename.file && c.end < rename.start), `${rename.to} renamed before its fsync`).toBe(true)
      expect(calls.some((c) => c.name === 'fsync' && c.file === target && c.start > rename.end), `${rename.to}: folder not fsynced after`).toBe(true)
    }
    // The manifest that lists the files goes last, after the folder holding them is durable.
    const manifest = renames.find((r) => r.to?.endsWith('.ckpt-checkout.json'))!
    const video = renames.find((r) => r.to?.endsWith('video'))!
    expect(calls.some((c) => c.name === 'fsync' && c.file === target && c.start > video.end && c.end < manifest.start)).toBe(true)
  })
})

import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { CKPT, ckpt } from './support/cli.js'
import { inTerminal, shellQuote } from './support/terminal.js'
import { tempDir } from './support/temp.js'

const MiB = 1024 * 1024
const ckptLine = (args: string) => `exec ${shellQuote(process.execPath)} ${shellQuote(CKPT)} ${args}`
/** Long enough that the work outlasts the bar's first second even on a fast machine, with the pause below. */
const PAUSE = { bytes: 16 * MiB, ms: 1300 }

/** The frames a bar drew on the terminal, ANSI codes removed, in order. */
function frames(screen: string): string[] {
  return screen
    .split(/\x1b\[1G|\r|\n/)
    .map((frame) => frame.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]/g, '').trim())
    .filter((frame) => frame !== '')
}

/** A store with a 96 MiB file beside it. */
function storeWithBigFile() {
  const dir = tempDir()
  expect(ckpt(dir, ['init']).code).toBe(0)
  writeFileSync(path.join(dir, 'big.bin'), randomBytes(96 * MiB))
  return dir
}

describe('progress bars on a terminal', () => {
  it('commit --file draws bytes with a rate and an ETA, ends at 100% on a line of its own, and a re-commit of the unchanged file shows its hashing the same way', async () => {
    const dir = storeWithBigFile()
    for (const round of ['first', 'unchanged']) {
      const { code, screen, paused } = await inTerminal(ckptLine('commit -s big --file big.bin > out.txt'), { cwd: dir, pause: { after: 'rchar', ...PAUSE } })
      expect({ round, code, paused }).toEqual({ round, code: 0, paused: true })
      const drawn = frames(screen)
      expect(drawn.some((f) => /^storing big\.bin .* \d+% [\d.]+ MiB\/96\.0 MiB [\d.]+ [KMG]i?B\/s ETA /.test(f)), drawn.join('\n')).toBe(true)
      expect(drawn.at(-1)).toMatch(/^storing big\.bin .* 100% 96\.0 MiB\/96\.0 MiB [\d.]+ [KMG]i?B\/s in \d+s$/)
      expect(screen.endsWith('\n')).toBe(true)
      expect(readFileSync(path.join(dir, 'out.txt'), 'utf8')).toMatch(/^[0-9a-f]{10}\n$/)
    }
  }, 60_000)

  it('restore --to counts the bytes written, not the files, and ends at 100%', async () => {
    const dir = storeWithBigFile()
    expect(ckpt(dir, ['commit', '-s', 'big', '--file', 'big.bin']).code).toBe(0)
    const { code, screen, paused } = await inTerminal(ckptLine('restore main --to restored > out.txt'), { cwd: dir, pause: { after: 'wchar', ...PAUSE } })
    expect({ code, paused }).toEqual({ code: 0, paused: true })
    const drawn = frames(screen)
    expect(drawn.some((f) => /^restore .* \d+% [\d.]+ MiB\/96\.0 MiB [\d.]+ [KMG]i?B\/s ETA /.test(f)), drawn.join('\n')).toBe(true)
    expect(drawn.at(-1)).toMatch(/^restore .* 100% 96\.0 MiB\/96\.0 MiB [\d.]+ [KMG]i?B\/s in \d+s$/)
    expect(screen.endsWith('\n')).toBe(true)
    expect(readFileSync(path.join(dir, 'restored', 'big.bin')).equals(readFileSync(path.join(dir, 'big.bin')))).toBe(true)
  }, 60_000)

  it('commit from a slow pipe counts the bytes read so far, then ends at 100% of what came', async () => {
    const dir = tempDir()
    expect(ckpt(dir, ['init']).code).toBe(0)
    const slow = '(head -c 4194304 /dev/zero; sleep 1.3; head -c 4194304 /dev/zero)'
    const { code, screen } = await inTerminal(`${slow} | ${ckptLine('commit -s piped - > out.txt')}`, { cwd: dir })
    expect(code).toBe(0)
    const drawn = frames(screen)
    expect(drawn.some((f) => /^storing stdin: [\d.]+ MiB [\d.]+ [KMG]i?B\/s$/.test(f)), drawn.join('\n')).toBe(true)
    expect(drawn.at(-1)).toMatch(/^storing stdin .* 100% 8\.0 MiB\/8\.0 MiB [\d.]+ [KMG]i?B\/s in \d+s$/)
  }, 60_000)

  it('clears a drawn bar when the work fails, so the error starts its own line', async () => {
    const dir = tempDir()
    expect(ckpt(dir, ['init']).code).toBe(0)
    const slow = '(head -c 4194304 /dev/zero; sleep 1.3; head -c 4194304 /dev/zero)'
    const { code, screen } = await inTerminal(`${slow} | ${ckptLine('commit -s piped --parent nosuch - > out.txt')}`, { cwd: dir })
    expect(code).toBe(4)
    expect(frames(screen).some((f) => f.startsWith('storing stdin: '))).toBe(true)
    const errorLine = screen.split('\n').find((line) => line.includes('ckpt: error')) ?? ''
    // What the terminal shows on that line: what was written after the line was last cleared.
    expect(errorLine.split('\x1b[2K').at(-1)).toMatch(/^ckpt: error: /)
  }, 60_000)

  it('draws nothing when stderr is not a terminal, however long the work', () => {
    const dir = tempDir()
    expect(ckpt(dir, ['init']).code).toBe(0)
    const slow = '(head -c 4194304 /dev/zero; sleep 1.3; head -c 4194304 /dev/zero)'
    const piped = spawnSync('sh', ['-c', `${slow} | ${ckptLine('commit -s piped -')}`], { cwd: dir, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } })
    expect({ status: piped.status, stderr: piped.stderr }).toEqual({ status: 0, stderr: '' })
    expect(piped.stdout).toMatch(/^[0-9a-f]{10}\n$/)
  }, 30_000)
})

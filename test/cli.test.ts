import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { tempDir } from './support/temp.js'

const CKPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/cli/main.js')

function ckpt(cwd: string, ...args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' }
  delete env.CKPT_DIR
  const result = spawnSync(process.execPath, [CKPT, ...args], { cwd, encoding: 'utf8', env })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

describe('the ckpt command', () => {
  it('initializes a store, commits, logs and resolves revisions', async () => {
    const project = tempDir()
    expect(ckpt(project, 'init').stdout).toContain(path.join(project, '.ckpt'))
    const first = ckpt(project, 'commit', '-s', 'detect', '--value', '{"n": 1}', '-m', 'first', '--run', 'r1')
    expect(first.code).toBe(0)
    expect(first.stdout.trim()).toMatch(/^[0-9a-f]{10}$/)
    writeFileSync(path.join(project, 'frame.bin'), Uint8Array.from([1, 2, 3]))
    const second = ckpt(project, 'commit', '-s', 'frames', '--file', 'frame.bin', '--json')
    const checkpoint = JSON.parse(second.stdout) as { id: string; parents: string[]; stages: Record<string, string> }
    // Found from a subfolder, as git finds .git.
    const sub = path.join(project, 'a', 'b')
    mkdirSync(sub, { recursive: true })
    expect(ckpt(sub, 'log', '--oneline').stdout).toMatch(/^[0-9a-f]{10} frames\n[0-9a-f]{10} detect first\n$/)
    const lines = ckpt(sub, 'log', '--json').stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; stage: string; run?: string })
    expect(lines.map((l) => l.stage)).toEqual(['frames', 'detect'])
    expect(lines[1]?.run).toBe('r1')
    expect(ckpt(sub, 'log', '-n', '1', '--oneline').stdout.trim().split('\n').length).toBe(1)
    expect(ckpt(project, 'rev-parse', 'HEAD').stdout.trim()).toBe(checkpoint.id)
    expect(ckpt(project, 'rev-parse', 'HEAD~1').stdout.trim()).toBe(checkpoint.parents[0])
    expect(ckpt(project, 'rev-parse', 'HEAD:frames').stdout.trim()).toBe(checkpoint.stages.frames)
  })

  it('exits with a documented code and one error line for each failure', () => {
    const project = tempDir()
    const outside = ckpt(project, 'log')
    expect(outside.code).toBe(3)
    expect(outside.stderr).toMatch(/^ckpt: error: not inside a ckpt store .*ckpt init/)
    ckpt(project, 'init')
    ckpt(project, 'commit', '-s', 's', '--value', '1')
    expect(ckpt(project, 'rev-parse', 'nosuch')).toMatchObject({ code: 4, stderr: 'ckpt: error: unknown revision "nosuch"\n' })
    expect(ckpt(project, 'commit', '-s', 's', '--value', '1', '-t', 'bad..name').code).toBe(2)
    expect(ckpt(project, 'commit', '-s', 's', '--value', '{nope').code).toBe(2)
    expect(ckpt(project, 'frobnicate').code).toBe(2)
    expect(ckpt(project, 'init').code).toBe(3)
  })

  it('honours --store and CKPT_DIR', () => {
    const place = path.join(tempDir(), 'elsewhere')
    const cwd = tempDir()
    expect(ckpt(cwd, '--store', place, 'init').code).toBe(0)
    expect(ckpt(cwd, '--store', place, 'commit', '-s', 's', '--value', '"x"').code).toBe(0)
    const env = { ...process.env, CKPT_DIR: place, NO_COLOR: '1' }
    const result = spawnSync(process.execPath, [CKPT, 'log', '--oneline'], { cwd, encoding: 'utf8', env })
    expect(result.stdout).toMatch(/^[0-9a-f]{10} s\n$/)
  })

  it('shows examples in --help of every command', () => {
    const cwd = tempDir()
    for (const command of ['init', 'commit', 'log', 'rev-parse']) {
      const help = ckpt(cwd, command, '--help')
      expect(help.code).toBe(0)
      expect(help.stdout).toContain('Examples:')
    }
  })
})

import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { tempDir } from './support/temp.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** The `$ command` lines of README's terminal session, each with the output printed under it. */
function readmeSession(): Array<{ command: string; output: string[] }> {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8')
  const start = readme.indexOf('```console', readme.indexOf('## Use it from the terminal'))
  const block = readme.slice(readme.indexOf('\n', start) + 1, readme.indexOf('\n```', start))
  const steps: Array<{ command: string; output: string[] }> = []
  for (const line of block.split('\n')) {
    if (line.startsWith('$ ')) steps.push({ command: line.slice(2).replace(/\s+#.*$/, ''), output: [] })
    else steps.at(-1)?.output.push(line)
  }
  return steps
}

/** A README line as a pattern: `…` stands for anything, a 10-digit short id for any short id. */
function linePattern(line: string): RegExp {
  const escaped = line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/…/g, '.*').replace(/\b[0-9a-f]{10}\b/g, '[0-9a-f]{10}')
  return new RegExp(`^${escaped}$`)
}

describe('README', () => {
  it('its terminal session works as shown, with ckpt installed from the clone and run outside it (issue 21 item 12)', () => {
    const prefix = tempDir()
    // What `npm install --global .` does from the clone, into a private prefix.
    execFileSync('npm', ['install', '--global', '--prefix', prefix, root, '--ignore-scripts', '--no-audit', '--no-fund'], { stdio: 'pipe' })
    const demo = tempDir()
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${path.join(prefix, 'bin')}:${process.env.PATH ?? ''}`, NO_COLOR: '1' }
    delete env.CKPT_DIR
    const steps = readmeSession()
    expect(steps.length).toBeGreaterThan(10)
    for (const { command, output } of steps) {
      const result = spawnSync('bash', ['-c', command], { cwd: demo, env, encoding: 'utf8' })
      expect(result.status, `${command}: ${result.stderr}`).toBe(0)
      const printed = result.stdout === '' ? [] : result.stdout.replace(/\n$/, '').split('\n')
      expect(printed.length, `${command} printed:\n${result.stdout}`).toBe(output.length)
      printed.forEach((line, i) => expect(line, `${command}, line ${i + 1}`).toMatch(linePattern(output[i] as string)))
    }
  })
})

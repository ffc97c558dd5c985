import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { gitWorkingTreeDiff, logTail, type GitDiff } from '../src/index.js'
import { ckpt, jsonLines } from './support/cli.js'
import { memoryStore, tempDir } from './support/temp.js'

const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' } })

/** A repository with one commit (a.txt, .gitignore), then a change, a new file and an ignored one. */
function agentRepo(): string {
  const repo = tempDir()
  git(repo, 'init', '-q', '-b', 'main')
  writeFileSync(path.join(repo, 'a.txt'), 'one\ntwo\n')
  writeFileSync(path.join(repo, '.gitignore'), 'build/\n*.log\n')
  git(repo, 'add', '.')
  git(repo, 'commit', '-q', '-m', 'base')
  writeFileSync(path.join(repo, 'a.txt'), 'one\nTWO\n')
  writeFileSync(path.join(repo, 'new.txt'), 'fresh\n')
  mkdirSync(path.join(repo, 'build'))
  writeFileSync(path.join(repo, 'build', 'out.bin'), 'ignored')
  writeFileSync(path.join(repo, 'debug.log'), 'ignored')
  return repo
}

describe('git working-tree diffs', () => {
  it('records tracked changes and untracked files against a base, and leaves the repository untouched', async () => {
    const repo = agentRepo()
    // status first: it refreshes the index's stat data (a write of git's own), then the bytes hold still.
    const status = git(repo, 'status', '--porcelain')
    const objects = git(repo, 'count-objects', '-v')
    const index = readFileSync(path.join(repo, '.git', 'index'))
    const diff = await gitWorkingTreeDiff(repo)
    expect(diff.commit).toBe(git(repo, 'rev-parse', 'HEAD').trim())
    expect(diff.diff).toContain('-two\n+TWO\n')
    expect(diff.diff).toContain('+++ b/new.txt\n@@ -0,0 +1 @@\n+fresh\n')
    expect(diff.diff).not.toContain('debug.log')
    expect(diff.stat).toEqual({
      files: [
        { path: 'a.txt', added: 1, removed: 1, binary: false },
        { path: 'new.txt', added: 1, removed: 0, binary: false },
      ],
      insertions: 2,
      deletions: 1,
    })
    expect(readFileSync(path.join(repo, '.git', 'index'))).toEqual(index)
    expect(git(repo, 'count-objects', '-v')).toBe(objects)
    expect(git(repo, 'status', '--porcelain')).toBe(status)
  })

  it('commits it from the CLI, shows it as text, and diffs two of them line by line', () => {
    const repo = agentRepo()
    const store = path.join(tempDir(), '.ckpt')
    const run = (...args: string[]) => ckpt(repo, ['--store', store, ...args])
    expect(run('init').code).toBe(0)
    expect(run('commit', '-s', 'changes', '--git-diff').code).toBe(0)
    writeFileSync(path.join(repo, 'new.txt'), 'fresh\nmore\n')
    expect(run('commit', '-s', 'changes', '--git-diff', 'main').code).toBe(0)
    const shown = run('show', 'HEAD:changes').stdout
    expect(shown).toMatch(/^against main \([0-9a-f]{12}\)\n a\.txt +\| \+1 -1\n new\.txt \| \+2 -0\n 2 files changed, 3 insertions\(\+\), 1 deletions\(-\)\n\ndiff --git/)
    expect(run('cat', 'HEAD:changes').stdout).toBe(shown)
    expect((JSON.parse(run('cat', 'HEAD:changes', '--json').stdout) as GitDiff).type).toBe('ckpt-git-diff')
    const diff = run('diff', 'HEAD~1', 'HEAD').stdout
    expect(diff).toContain('+more')
    expect(diff).toContain('- new.txt | +1 -0')
    expect(diff).not.toContain('/diff  ')
    const outside = tempDir()
    expect(ckpt(outside, ['--store', store, 'commit', '-s', 'x', '--git-diff']).code).toBe(2)
  })

  it('commits a folder without what .gitignore excludes and without .git, unless --all', () => {
    const repo = agentRepo()
    const store = path.join(tempDir(), '.ckpt')
    const run = (...args: string[]) => ckpt(repo, ['--store', store, ...args])
    run('init')
    run('commit', '-s', 'tree', '--dir', '.')
    const files = (rev: string) => run('cat', `${rev}:tree`).stdout.trim().split('\n').map((l) => l.trim().split(/ +/)[1])
    expect(files('HEAD')).toEqual(['.gitignore', 'a.txt', 'new.txt'])
    run('commit', '-s', 'tree', '--dir', '.', '--all')
    const all = files('HEAD')
    expect(all).toContain('debug.log')
    expect(all).toContain('build/out.bin')
    expect(all.some((f) => f?.startsWith('.git/'))).toBe(true)
  })
})

describe('log tails', () => {
  it('merges lines from several sources by sequence and keeps the last N', async () => {
    const tail = logTail(
      [
        { source: 'stderr', text: 'warn', seq: 2 },
        { source: 'worker', text: 'start', seq: 1 },
        { source: 'stdout', text: 'done', seq: 4 },
        { source: 'worker', text: 'step', seq: 3 },
      ],
      { keep: 3 },
    )
    expect(tail).toEqual({
      type: 'ckpt-log-tail',
      truncated: true,
      total: 4,
      lines: [
        { seq: 2, source: 'stderr', text: 'warn' },
        { seq: 3, source: 'worker', text: 'step' },
        { seq: 4, source: 'stdout', text: 'done' },
      ],
    })
    const store = await memoryStore()
    const checkpoint = await store.commit({ stage: 'log', output: tail })
    expect(await store.getOutput(checkpoint.stages.log as string)).toEqual(tail)
  })

  it('is committed from JSON lines, shown as text by cat and show, and diffed as text', () => {
    const dir = tempDir()
    ckpt(dir, ['init'])
    const lines = (n: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ source: i % 2 ? 'stderr' : 'stdout', seq: i + 1, text: `line ${i + 1}` })).join('\n')
    writeFileSync(path.join(dir, 'one.jsonl'), lines(5))
    writeFileSync(path.join(dir, 'two.jsonl'), lines(6))
    expect(ckpt(dir, ['commit', '-s', 'log', '--log-tail', '--keep', '3', '--file', 'one.jsonl']).code).toBe(0)
    expect(ckpt(dir, ['cat', 'HEAD:log']).stdout).toBe('… 2 earlier lines dropped\n[stdout] line 3\n[stderr] line 4\n[stdout] line 5\n')
    expect(ckpt(dir, ['show', 'HEAD:log']).stdout).toBe(ckpt(dir, ['cat', 'HEAD:log']).stdout)
    expect(ckpt(dir, ['commit', '-s', 'log', '--log-tail', '--keep', '3', '--file', 'two.jsonl']).code).toBe(0)
    const diff = ckpt(dir, ['diff', 'HEAD~1', 'HEAD', '--stage', 'log']).stdout
    expect(diff).toContain('-[stdout] line 3\n')
    expect(diff).toContain('+[stderr] line 6\n')
    expect(jsonLines(ckpt(dir, ['cat', 'HEAD:log', '--json']).stdout)[0]).toMatchObject({ type: 'ckpt-log-tail', total: 6, truncated: true })
    expect(ckpt(dir, ['commit', '-s', 'log', '--keep', '3', '--json', '1']).code).toBe(2)
  })
})

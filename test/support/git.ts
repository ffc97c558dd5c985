import { execFileSync, spawnSync } from 'node:child_process'

/** Runs the real `git` binary in `dir` with a clean identity; throws with git's stderr when it fails. */
export function git(dir: string, args: string[]): string {
  return execFileSync('git', args, {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: dir, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' },
    maxBuffer: 64 * 1024 * 1024,
  })
}

/**
 * `git fsck --strict --full` of a repository: its exit code and everything it printed. With
 * `ignoreNotices`, git's `notice:` lines (a repository with no branches yet) are left out.
 */
export function gitFsck(dir: string, options: { ignoreNotices?: boolean } = {}): { code: number | null; output: string } {
  const run = spawnSync('git', ['fsck', '--strict', '--full', '--no-dangling'], { cwd: dir, encoding: 'utf8' })
  const output = run.stdout + run.stderr
  if (!options.ignoreNotices) return { code: run.status, output }
  return { code: run.status, output: output.split('\n').filter((line) => line !== '' && !line.startsWith('notice:')).join('\n') }
}

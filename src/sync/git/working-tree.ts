import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { CkptError, quoted } from '../../errors.js'
import type { GitDiff } from '../../model/text-outputs.js'

const run = promisify(execFile)
const MAX_OUTPUT = 256 * 1024 * 1024

/** Runs git in `dir`; `okCodes` are exit statuses that are answers, not failures (diff --no-index exits 1 on a difference). */
async function git(dir: string, args: string[], okCodes: number[] = [0]): Promise<string> {
  try {
    return (await run('git', args, { cwd: dir, maxBuffer: MAX_OUTPUT, encoding: 'utf8', env: { ...process.env, GIT_OPTIONAL_LOCKS: '0', LC_ALL: 'C' } })).stdout
  } catch (err) {
    const failed = err as { code?: unknown; stdout?: string; stderr?: string }
    if (typeof failed.code === 'number' && okCodes.includes(failed.code)) return failed.stdout ?? ''
    if (failed.code === 'ENOENT') throw new CkptError('INVALID_ARGUMENT', 'git is not installed (no `git` on PATH)', { cause: err })
    throw new CkptError('INVALID_ARGUMENT', `git ${args[0]} in ${quoted(dir)} failed: ${(failed.stderr ?? String(err)).trim()}`, { cause: err, details: { dir } })
  }
}

/** Whether `dir` is inside a git work tree. */
export async function isGitWorkTree(dir: string): Promise<boolean> {
  return (await git(dir, ['rev-parse', '--is-inside-work-tree'], [0, 128]).catch(() => '')).trim() === 'true'
}

/**
 * The git working tree `dir` is in, against `base` (default HEAD): the unified diff and diffstat of
 * tracked files (staged or not) and of untracked files that .gitignore does not exclude. Reads only:
 * the repository, its index and its object store are left exactly as they were.
 */
export async function gitWorkingTreeDiff(dir: string, options: { readonly base?: string } = {}): Promise<GitDiff> {
  const base = options.base ?? 'HEAD'
  if (!(await isGitWorkTree(dir))) throw new CkptError('INVALID_ARGUMENT', `${quoted(dir)} is not in a git work tree`, { details: { dir } })
  if (base.startsWith('-')) throw new CkptError('INVALID_ARGUMENT', `invalid git base ${quoted(base)}`, { details: { base } })
  const commit = (await git(dir, ['rev-parse', '--verify', '--quiet', `${base}^{commit}`], [0, 1])).trim()
  if (commit === '') throw new CkptError('INVALID_ARGUMENT', `git base ${quoted(base)} names no commit`, { details: { base } })
  const flags = ['--no-color', '--no-ext-diff', '--no-textconv', '--relative']
  const tracked = await git(dir, ['diff', ...flags, commit, '--'])
  const trackedStat = await git(dir, ['diff', '--numstat', '--relative', commit, '--'])
  const untracked = (await git(dir, ['ls-files', '--others', '--exclude-standard', '-z'])).split('\0').filter((f) => f !== '')
  let diff = tracked
  let numstat = trackedStat
  for (const file of untracked) {
    diff += await git(dir, ['diff', ...flags.filter((f) => f !== '--relative'), '--no-index', '--', '/dev/null', file], [0, 1])
    numstat += (await git(dir, ['diff', '--numstat', '--no-index', '--', '/dev/null', file], [0, 1])).replace(/\/dev\/null => /, '')
  }
  const files = numstat
    .split('\n')
    .filter((l) => l !== '')
    .map((line) => {
      const [added = '0', removed = '0', ...rest] = line.split('\t')
      const binary = added === '-'
      return { path: rest.join('\t'), added: binary ? 0 : Number(added), removed: binary ? 0 : Number(removed), binary }
    })
  return {
    type: 'ckpt-git-diff',
    base,
    commit,
    diff,
    stat: { files, insertions: files.reduce((n, f) => n + f.added, 0), deletions: files.reduce((n, f) => n + f.removed, 0) },
  }
}

/**
 * The files git would consider in `dir` (tracked, and untracked but not ignored), relative to it;
 * undefined when `dir` is not in a git work tree.
 */
export async function gitVisibleFiles(dir: string): Promise<Set<string> | undefined> {
  if (!(await isGitWorkTree(dir))) return undefined
  const listed = await git(dir, ['ls-files', '--cached', '--others', '--exclude-standard', '-z'])
  return new Set(listed.split('\0').filter((f) => f !== ''))
}

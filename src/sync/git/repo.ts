import { existsSync } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { CkptError, quoted } from '../../errors.js'
import { fileSystemError, onPath } from '../../io/fs-errors.js'
import { mkdirDurable } from '../../io/sync-dir.js'

/** isomorphic-git, loaded on first use: most commands never touch a git repository. */
export type Git = typeof import('isomorphic-git')
const loadGit = async (): Promise<Git> => (await import('isomorphic-git')).default as unknown as Git

/**
 * The file system isomorphic-git writes through. Its own writes go straight to the final name,
 * so a killed export could leave a truncated object that later runs take as present; here every
 * file is written under a temporary name and renamed into place.
 */
const atomicFs = {
  promises: {
    readFile: fs.readFile,
    mkdir: fs.mkdir,
    rmdir: fs.rmdir,
    rm: fs.rm,
    unlink: fs.unlink,
    stat: fs.stat,
    lstat: fs.lstat,
    readdir: fs.readdir,
    readlink: fs.readlink,
    symlink: fs.symlink,
    chmod: fs.chmod,
    async writeFile(file: string, data: Uint8Array | string, options?: unknown): Promise<void> {
      const temp = tempNameFor(file)
      try {
        await fs.writeFile(temp, data, options as Parameters<typeof fs.writeFile>[2])
        await fs.rename(temp, file)
      } catch (err) {
        await fs.rm(temp, { force: true })
        throw err
      }
    },
  },
}

/**
 * A temporary name git itself would use, so one left by a killed export is ignored: `tmp_obj_*`
 * beside loose objects (fsck and prune know them), `NAME.lock` for refs and everything else.
 */
function tempNameFor(file: string): string {
  const dir = path.dirname(file)
  if (path.basename(path.dirname(dir)) === 'objects') return path.join(dir, `tmp_obj_${process.pid}_${randomBytes(4).toString('hex')}`)
  return `${file}.lock`
}

/** Where a mirror keeps its map from checkpoint id to git commit, inside the git directory. */
const MAP_FILE = 'ckpt-mirror'

/** A git repository opened for the mirror: isomorphic-git bound to its git directory. */
export class GitRepo {
  private constructor(
    readonly git: Git,
    readonly gitdir: string,
    /** True when this open created the repository. */
    readonly created: boolean,
  ) {}

  /** The arguments every isomorphic-git call takes. */
  get at(): { fs: typeof atomicFs; gitdir: string } {
    return { fs: atomicFs, gitdir: this.gitdir }
  }

  /**
   * Opens the repository at `dir` (bare, or a work tree with `.git/`). With `create`, a missing or
   * empty folder becomes a new bare repository; a folder holding anything else is refused.
   */
  static async open(dir: string, options: { create: boolean }): Promise<GitRepo> {
    const git = await loadGit()
    await checkRepoPath(dir, options)
    const found = gitDirOf(dir)
    if (found) return new GitRepo(git, found, false)
    const entries = await fs.readdir(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined
      throw fileSystemError(err, dir)
    })
    if (!options.create) throw new CkptError('NOT_FOUND', `${dir} is not a git repository`, { details: { path: dir } })
    if (entries !== undefined && entries.length > 0) {
      throw new CkptError('INVALID_ARGUMENT', `${dir} is neither a git repository nor an empty folder`, { details: { path: dir } })
    }
    // Made beside `dir` and renamed onto it (a rename may replace an empty folder), so a killed
    // export never leaves half a repository that the next run would refuse.
    await onPath(dir, () => mkdirDurable(path.dirname(path.resolve(dir))), 'cannot create')
    const temp = `${path.resolve(dir)}.ckpt-init-${randomBytes(4).toString('hex')}`
    try {
      await onPath(dir, async () => {
        await git.init({ fs: atomicFs, dir: temp, gitdir: temp, bare: true, defaultBranch: 'main' })
        await fs.rename(temp, dir)
      }, 'cannot create')
    } finally {
      await fs.rm(temp, { recursive: true, force: true })
    }
    return new GitRepo(git, dir, true)
  }

  /** Whether the repository holds object `oid` (loose or packed). */
  async has(oid: string): Promise<boolean> {
    try {
      await this.git.readObject({ ...this.at, oid, format: 'deflated' })
      return true
    } catch {
      return false
    }
  }

  /** The mirror's map of checkpoint id → git commit id; empty for a repository never exported to. */
  async readMap(): Promise<Map<string, string>> {
    const text = await fs.readFile(path.join(this.gitdir, MAP_FILE), 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return ''
      throw err
    })
    const map = new Map<string, string>()
    for (const line of text.split('\n')) {
      const [id, oid] = line.split(' ')
      // A torn last line (an export killed mid-append) is skipped: the map is only a shortcut.
      if (id && oid && /^[0-9a-f]{40}$/.test(oid)) map.set(id, oid)
    }
    return map
  }

  async appendMap(lines: ReadonlyArray<readonly [string, string]>): Promise<void> {
    if (lines.length === 0) return
    await fs.appendFile(path.join(this.gitdir, MAP_FILE), lines.map(([id, oid]) => `${id} ${oid}\n`).join(''))
  }
}

/**
 * A repository path must be a folder or missing. An export never goes through a symlink at the
 * path (it would write where the link points, not where the user named); an import only reads.
 */
async function checkRepoPath(dir: string, { create }: { create: boolean }): Promise<void> {
  const entry = await fs.lstat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined
    throw fileSystemError(err, dir)
  })
  if (entry?.isSymbolicLink() && create) {
    throw new CkptError('INVALID_ARGUMENT', `${quoted(dir)} is a symbolic link: name the repository's folder itself`, { details: { path: dir } })
  }
  const target = entry?.isSymbolicLink() ? await fs.stat(dir).catch(() => undefined) : entry
  if (target !== undefined && !target.isDirectory()) {
    throw new CkptError('INVALID_ARGUMENT', `${quoted(dir)} is not a folder, so it cannot be a git repository`, { details: { path: dir } })
  }
}

function gitDirOf(dir: string): string | undefined {
  if (existsSync(path.join(dir, '.git', 'HEAD'))) return path.join(dir, '.git')
  if (existsSync(path.join(dir, 'HEAD')) && existsSync(path.join(dir, 'objects'))) return dir
  return undefined
}

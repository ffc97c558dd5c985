import { randomBytes } from 'node:crypto'
import type { BigIntStats } from 'node:fs'
import { lstat, open, readFile, rename, rm, type FileHandle } from 'node:fs/promises'
import path from 'node:path'
import { writeAllAt } from '../io/write-all.js'
import { isPlainRelativePath } from './names.js'

/** Lists what the last checkout wrote, so the next one knows which files are its own (docs/cli.md). */
export const CHECKOUT_MANIFEST = '.ckpt-checkout.json'
const MANIFEST_VERSION = 2

/** What ckpt saw of a file right after writing it. A file is ckpt's only while all of it still matches. */
export interface RecordedFile {
  readonly size: number
  readonly ino: string
  readonly mtimeNs: string
}

/** Whether `stat` (an lstat) is the very regular file ckpt recorded: same inode, size and modification time. */
export function isRecordedFile(stat: BigIntStats | undefined, recorded: RecordedFile | undefined): boolean {
  return (
    stat !== undefined &&
    recorded !== undefined &&
    stat.isFile() &&
    String(stat.ino) === recorded.ino &&
    Number(stat.size) === recorded.size &&
    String(stat.mtimeNs) === recorded.mtimeNs
  )
}

export function recordOf(stat: BigIntStats): RecordedFile {
  return { size: Number(stat.size), ino: String(stat.ino), mtimeNs: String(stat.mtimeNs) }
}

/**
 * The files the previous checkout recorded. A manifest that is not a regular file, does not
 * parse, or is of the first format (names only, which prove nothing) counts as none.
 */
export async function readManifest(root: string): Promise<Map<string, RecordedFile>> {
  const recorded = new Map<string, RecordedFile>()
  const file = path.join(root, CHECKOUT_MANIFEST)
  const stat = await lstat(file).catch(() => undefined)
  if (!stat?.isFile()) return recorded
  let parsed: { version?: unknown; files?: unknown }
  try {
    parsed = JSON.parse(await readFile(file, 'utf8')) as typeof parsed
  } catch {
    return recorded
  }
  if (parsed?.version !== MANIFEST_VERSION || !Array.isArray(parsed.files)) return recorded
  for (const entry of parsed.files as unknown[]) {
    if (!Array.isArray(entry)) continue
    const [name, size, ino, mtimeNs] = entry as unknown[]
    if (isPlainRelativePath(name) && typeof size === 'number' && typeof ino === 'string' && typeof mtimeNs === 'string') recorded.set(name, { size, ino, mtimeNs })
  }
  return recorded
}

const FLUSH_CHARS = 1 << 20

/** Writes the next manifest as files are written, in pieces, so memory stays bounded; renamed into place by finish. */
export class ManifestWriter {
  #pending = ''
  #first = true
  #flushing: Promise<unknown> = Promise.resolve()
  #position = 0

  private constructor(
    readonly root: string,
    readonly temp: string,
    readonly handle: FileHandle,
  ) {}

  static async create(root: string, checkpoint: string): Promise<ManifestWriter> {
    const temp = path.join(root, `.ckpt-tmp-${randomBytes(6).toString('hex')}`)
    const writer = new ManifestWriter(root, temp, await open(temp, 'wx'))
    writer.#pending = `{\n  "version": ${MANIFEST_VERSION},\n  "checkpoint": ${JSON.stringify(checkpoint)},\n  "files": [`
    return writer
  }

  add(name: string, file: RecordedFile): void {
    this.#pending += `${this.#first ? '' : ','}\n    ${JSON.stringify([name, file.size, file.ino, file.mtimeNs])}`
    this.#first = false
    if (this.#pending.length >= FLUSH_CHARS) this.#flush()
  }

  #flush(): void {
    const piece = Buffer.from(this.#pending)
    this.#pending = ''
    this.#flushing = this.#flushing.then(async () => {
      this.#position = await writeAllAt(this.handle, [piece], this.#position)
    })
  }

  /** Completes the file, fsyncs it when `durable`, and renames it over the old manifest. */
  async finish(durable: boolean): Promise<void> {
    this.#pending += '\n  ]\n}\n'
    this.#flush()
    try {
      await this.#flushing
      if (durable) await this.handle.sync()
    } catch (err) {
      await this.discard()
      throw err
    }
    await this.handle.close()
    await rename(this.temp, path.join(this.root, CHECKOUT_MANIFEST))
  }

  async discard(): Promise<void> {
    await this.#flushing.catch(() => undefined)
    await this.handle.close().catch(() => undefined)
    await rm(this.temp, { force: true })
  }
}

import { randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { lstat, mkdir, open, readdir, unlink, type FileHandle } from 'node:fs/promises'
import path from 'node:path'
import { CkptError } from '../../errors.js'
import type { ObjectEntry } from '../interface.js'
import { writeAllAt } from '../../io/write-all.js'
import { mkdirDurable, syncDirectory } from '../../io/sync-dir.js'
import { checkOwnFolder, openOwnFile } from '../../io/own-files.js'

/*
 * Pack files keep bulk bytes out of LevelDB, whose compactions would rewrite every large value
 * again and again (docs/performance.md). A pack is append-only and written by one process; LevelDB
 * holds only where each value lives. A pack is self-describing, so its index can be checked against
 * it, and a crash mid-append leaves only an unindexed tail that nothing refers to.
 *
 *   header:  "CKPTPACK" (8 bytes), format version (u32 BE)
 *   record:  key length (u32 BE), key, value length (u32 BE), value
 */

/** Values at least this large go to a pack; smaller ones stay inline in LevelDB. */
export const PACK_THRESHOLD = 64 * 1024
/** A pack stops taking appends past this size, so gc can rewrite packs one at a time. */
const PACK_ROLLOVER = 1024 * 1024 * 1024
const MAGIC = new TextEncoder().encode('CKPTPACK')
const HEADER_LENGTH = MAGIC.length + 4
const PACK_VERSION = 1
const PACK_NAME = /^[0-9a-z]+-[0-9a-f]+\.pack$/
/** Reads up to this size allocate at once; larger ones are first checked against the pack's size. */
const TRUSTED_READ_BYTES = 16 * 1024 * 1024

/** Where one value lives. */
export interface PackLocation {
  readonly pack: string
  readonly offset: number
  readonly length: number
}

const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder()

/** The index value for a location: pack name length (u8), name, offset (u64 BE), length (u32 BE). */
export function encodeLocation(location: PackLocation): Uint8Array {
  const name = utf8.encode(location.pack)
  const out = new Uint8Array(1 + name.length + 12)
  const view = new DataView(out.buffer)
  out[0] = name.length
  out.set(name, 1)
  view.setBigUint64(1 + name.length, BigInt(location.offset))
  view.setUint32(9 + name.length, location.length)
  return out
}

export function decodeLocation(bytes: Uint8Array): PackLocation {
  const nameLength = bytes[0] ?? 0
  if (bytes.length !== 1 + nameLength + 12) throw new CkptError('CORRUPT_OBJECT', 'a pack index entry is malformed')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return {
    pack: fromUtf8.decode(bytes.subarray(1, 1 + nameLength)),
    offset: Number(view.getBigUint64(1 + nameLength)),
    length: view.getUint32(9 + nameLength),
  }
}

/** The pack files of one store directory: this process's writer, and readers for every pack. */
export class Packs {
  readonly #dir: string
  readonly #sync: boolean
  readonly #readers = new Map<string, Promise<FileHandle>>()
  #writer: { name: string; handle: FileHandle; size: number } | undefined
  readonly #full: FileHandle[] = []
  /** Readers of removed packs: closed at close(), since a read may still be using one. */
  readonly #retired: Array<Promise<FileHandle>> = []
  readonly #syncing = new Set<Promise<void>>()
  #appending: Promise<unknown> = Promise.resolve()
  /** A pack being created, not yet this process's writer: never offered for removal. */
  #creating: string | undefined
  /** Where the last append to the writer started and ended, so a failed index write can give it back. */
  #lastAppend: { name: string; start: number; end: number } | undefined
  #dirChecked: Promise<boolean> | undefined

  constructor(dir: string, sync: boolean) {
    this.#dir = dir
    this.#sync = sync
  }

  /**
   * Appends every entry to this process's pack and returns where each value landed. When the
   * promise resolves the bytes are written (and fsynced in fsync mode), so an index entry written
   * after it never names bytes a crash could lose.
   */
  async append(entries: readonly ObjectEntry[], options: { sync?: boolean } = {}): Promise<PackLocation[]> {
    // Writes are serialized; each fsync runs alongside the writes queued after it. fdatasync
    // covers everything written to the file before it started, so this append's bytes are safe.
    const written = this.#appending.then(() => this.#write(entries))
    this.#appending = written.catch(() => undefined)
    const { locations, handle, name } = await written
    if (this.#sync || options.sync === true) {
      const synced = handle.datasync()
      this.#syncing.add(synced)
      try {
        await synced
      } catch (cause) {
        throw ioError(`cannot fsync pack ${name}`, cause)
      } finally {
        this.#syncing.delete(synced)
      }
    }
    return locations
  }

  async #write(entries: readonly ObjectEntry[]): Promise<{ locations: PackLocation[]; handle: FileHandle; name: string }> {
    const writer = await this.#currentWriter()
    const buffers: Uint8Array[] = []
    const locations: PackLocation[] = []
    let position = writer.size
    for (const { key, value } of entries) {
      const head = Buffer.alloc(4 + key.length + 4)
      head.writeUInt32BE(key.length, 0)
      head.set(key, 4)
      head.writeUInt32BE(value.length, 4 + key.length)
      buffers.push(head, value)
      locations.push({ pack: writer.name, offset: position + head.length, length: value.length })
      position += head.length + value.length
    }
    try {
      await writeAllAt(writer.handle, buffers, writer.size)
    } catch (cause) {
      // Give back what was written (a full disk must not stay full of a failed commit). If that
      // fails too, the pack's tail is unknown: the next append starts a fresh pack.
      const restored = await writer.handle.truncate(writer.size).then(() => true, () => false)
      if (!restored) {
        this.#writer = undefined
        await writer.handle.close().catch(() => undefined)
      }
      throw ioError(`cannot write pack ${writer.name}`, cause)
    }
    this.#lastAppend = { name: writer.name, start: writer.size, end: position }
    writer.size = position
    if (writer.size >= PACK_ROLLOVER) {
      // Closed by close(): a datasync of its last appends may still be running.
      this.#full.push(writer.handle)
      this.#writer = undefined
    }
    return { locations, handle: writer.handle, name: writer.name }
  }

  async #currentWriter(): Promise<{ name: string; handle: FileHandle; size: number }> {
    if (this.#writer) return this.#writer
    // A link planted at the packs folder would take every new pack outside the store.
    if (!(await checkOwnFolder(this.#dir, 'the packs folder'))) await (this.#sync ? mkdirDurable(this.#dir) : mkdir(this.#dir, { recursive: true }))
    const name = `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}.pack`
    this.#creating = name
    const file = path.join(this.#dir, name)
    const handle = await open(file, 'wx').catch((cause: unknown) => {
      this.#creating = undefined
      throw ioError(`cannot create a pack file in ${this.#dir}`, cause)
    })
    const header = Buffer.alloc(HEADER_LENGTH)
    header.set(MAGIC)
    header.writeUInt32BE(PACK_VERSION, MAGIC.length)
    try {
      await writeAllAt(handle, [header], 0)
      if (this.#sync) {
        await handle.sync()
        await syncDirectory(this.#dir)
      }
    } catch (cause) {
      // Not even the header fits (a full disk): leave no empty pack behind.
      await handle.close().catch(() => undefined)
      await unlink(file).catch(() => undefined)
      this.#creating = undefined
      throw ioError(`cannot write pack ${name}`, cause)
    }
    this.#writer = { name, handle, size: HEADER_LENGTH }
    this.#creating = undefined
    return this.#writer
  }

  /**
   * Gives back the bytes of the append that returned `locations`, when its index could not be
   * written and nothing was appended after it. Best effort: a tail it leaves is unindexed, and
   * gc rewrites the pack once most of it is such.
   */
  unappend(locations: readonly PackLocation[]): Promise<void> {
    const last = locations.at(-1)
    const done = this.#appending.then(async () => {
      const writer = this.#writer
      const append = this.#lastAppend
      if (!last || !writer || !append || append.name !== last.pack || writer.name !== last.pack) return
      if (append.end !== last.offset + last.length || writer.size !== append.end) return
      await writer.handle.truncate(append.start)
      writer.size = append.start
      this.#lastAppend = undefined
    })
    this.#appending = done.catch(() => undefined)
    return done.catch(() => undefined)
  }

  /**
   * The value at `location`, read into the start of `into` when it fits there (the answer is then a
   * view of it); CORRUPT_OBJECT when the pack is missing or shorter than its index says.
   */
  async read(location: PackLocation, into?: Uint8Array): Promise<Uint8Array> {
    const handle = await this.#reader(location.pack)
    const lent = into !== undefined && into.length >= location.length
    // A damaged index entry may claim gigabytes: check large claims against the file before allocating.
    if (!lent && location.length > TRUSTED_READ_BYTES && location.offset + location.length > (await handle.stat()).size) throw truncated(location)
    const out = lent ? into.subarray(0, location.length) : new Uint8Array(location.length)
    let done = 0
    while (done < out.length) {
      const { bytesRead } = await handle.read(out, done, out.length - done, location.offset + done)
      if (bytesRead === 0) throw truncated(location)
      done += bytesRead
    }
    return out
  }

  /** Every pack file in the directory with its size, except the one this process is appending to. */
  async sealed(): Promise<Array<{ name: string; size: number }>> {
    const names = await readdir(this.#dir).catch((err: { code?: string }) => {
      if (err.code === 'ENOENT') return [] as string[]
      throw ioError(`cannot list ${this.#dir}`, err)
    })
    const packs = names.filter((name) => PACK_NAME.test(name) && name !== this.#writer?.name && name !== this.#creating)
    const entries = await Promise.all(packs.map(async (name) => ({ name, stats: await lstat(path.join(this.#dir, name)).catch(() => undefined) })))
    // Anything but a regular file under a pack's name is not one ckpt wrote: fsck reports it, reclaim leaves it.
    return entries.flatMap(({ name, stats }) => (stats?.isFile() ? [{ name, size: stats.size }] : []))
  }

  /**
   * Removes a pack nothing indexes any more. A read that looked up its location just before may
   * still be under way: a handle already open keeps working, and a new open fails as missing,
   * which the caller answers by looking the key up again.
   */
  async remove(name: string): Promise<void> {
    const handle = this.#readers.get(name)
    this.#readers.delete(name)
    if (handle) this.#retired.push(handle)
    await unlink(path.join(this.#dir, name)).catch((err: { code?: string }) => {
      if (err.code !== 'ENOENT') throw ioError(`cannot remove pack ${name}`, err)
    })
  }

  /**
   * Checks that the record at `location` names `key` and has the indexed length: the pack and
   * its index agree. Returns what is wrong, or undefined.
   */
  async checkRecord(key: Uint8Array, location: PackLocation): Promise<string | undefined> {
    const headerStart = location.offset - 8 - key.length
    if (headerStart < HEADER_LENGTH) return `its index entry points at offset ${location.offset}, inside the pack header`
    let handle: FileHandle
    try {
      handle = await this.#reader(location.pack)
    } catch (err) {
      return (err as Error).message
    }
    const head = Buffer.alloc(8 + key.length)
    const { bytesRead } = await handle.read(head, 0, head.length, headerStart)
    const { size } = await handle.stat()
    if (bytesRead < head.length || location.offset + location.length > size) return `pack ${location.pack} ends before the record its index names`
    if (head.readUInt32BE(0) !== key.length || Buffer.compare(head.subarray(4, 4 + key.length), key) !== 0) return `pack ${location.pack} holds a different key at offset ${headerStart}`
    if (head.readUInt32BE(4 + key.length) !== location.length) return `pack ${location.pack} records a different length at offset ${headerStart}`
    return undefined
  }

  /** Checks once that the packs folder is a real folder, not a link to one elsewhere. */
  #checkedDir(): Promise<unknown> {
    if (!this.#dirChecked) {
      this.#dirChecked = checkOwnFolder(this.#dir, 'the packs folder')
      // Checked again next time if it failed: the folder may have been put right.
      this.#dirChecked.catch(() => (this.#dirChecked = undefined))
    }
    return this.#dirChecked
  }

  #reader(name: string): Promise<FileHandle> {
    let handle = this.#readers.get(name)
    if (!handle) {
      if (!PACK_NAME.test(name)) return Promise.reject(new CkptError('CORRUPT_OBJECT', `a pack index entry names "${name}", which is no pack file name`))
      const file = path.join(this.#dir, name)
      handle = this.#checkedDir()
        .then(() => openOwnFile(file, constants.O_RDONLY, 'pack file'))
        .catch((cause: unknown) => {
          this.#readers.delete(name)
          if (cause instanceof CkptError) throw new CkptError(cause.code, cause.message, { cause, details: { ...cause.details, pack: name } })
          const missing = (cause as { code?: string }).code === 'ENOENT'
          throw new CkptError(missing ? 'CORRUPT_OBJECT' : 'IO_ERROR', missing ? `pack file ${file} is missing` : `cannot open pack ${name}: ${(cause as Error).message}`, {
            cause,
            details: { pack: name, path: file },
          })
        })
      this.#readers.set(name, handle)
    }
    return handle
  }

  async close(): Promise<void> {
    await this.#appending
    await Promise.allSettled(this.#syncing)
    const handles = [...this.#readers.values(), ...this.#retired.splice(0)]
    this.#readers.clear()
    for (const handle of handles) await (await handle.catch(() => undefined))?.close()
    await this.#writer?.handle.close()
    this.#writer = undefined
    for (const handle of this.#full.splice(0)) await handle.close()
  }
}

function truncated(location: PackLocation): CkptError {
  return new CkptError('CORRUPT_OBJECT', `pack ${location.pack} is truncated: it ends before byte ${location.offset + location.length}`, {
    details: { pack: location.pack },
  })
}

function ioError(message: string, cause: unknown): CkptError {
  return new CkptError('IO_ERROR', `${message}: ${(cause as Error).message}`, { cause })
}

import type { FileHandle } from 'node:fs/promises'

/**
 * Writes every buffer at `position` with vectored writes, carrying on after short writes.
 * Returns the position just past what was written.
 */
export async function writeAllAt(handle: FileHandle, buffers: readonly Uint8Array[], position: number): Promise<number> {
  let pending = buffers.filter((b) => b.length > 0)
  let at = position
  while (pending.length > 0) {
    const { bytesWritten } = await handle.writev(pending, at)
    at += bytesWritten
    pending = dropWritten(pending, bytesWritten)
  }
  return at
}

/** What is left of `buffers` after a short write of `written` bytes. */
function dropWritten(buffers: Uint8Array[], written: number): Uint8Array[] {
  let left = written
  let i = 0
  while (i < buffers.length && left >= buffers[i]!.length) left -= buffers[i++]!.length
  const rest = buffers.slice(i)
  if (rest.length > 0 && left > 0) rest[0] = rest[0]!.subarray(left)
  return rest
}

/** One Server-Sent Event as it arrived: its name, its JSON data, and when its bytes arrived (ms since 1970). */
export interface StreamedEvent {
  readonly event: string
  readonly data: Record<string, unknown>
  readonly at: number
}

/**
 * Opens `ckpt serve`'s `/api/events` at `serverUrl` and calls `onEvent` for each event as it
 * arrives. No vitest in here: the bench uses it too. `close()` ends the stream and waits for
 * the reader.
 */
export async function openEvents(serverUrl: string, onEvent: (event: StreamedEvent) => void): Promise<{ readonly response: Response; close(): Promise<void> }> {
  const abort = new AbortController()
  const response = await fetch(`${serverUrl}/api/events`, { signal: abort.signal })
  if (response.status !== 200 || !response.body) throw new Error(`/api/events answered ${response.status}`)
  const body = response.body as unknown as AsyncIterable<Uint8Array>
  const reading = (async () => {
    const decoder = new TextDecoder()
    let buffer = ''
    for await (const chunk of body) {
      const at = Date.now()
      buffer += decoder.decode(chunk, { stream: true })
      let end: number
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const event = /^event: (.*)$/m.exec(block)?.[1]
        const data = /^data: (.*)$/m.exec(block)?.[1]
        if (event && data) onEvent({ event, data: JSON.parse(data) as Record<string, unknown>, at })
      }
    }
  })().catch(() => undefined) // aborted by close(), or the server went away
  return {
    response,
    close: async () => {
      abort.abort()
      await reading
    },
  }
}

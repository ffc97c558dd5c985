import { connect, createServer, type Server, type Socket } from 'node:net'
import { afterAll } from 'vitest'

/**
 * What the proxy does to the next call that moves a ref (a call of the schema's
 * `ckpt_update_refs`, its own transaction), once:
 * - `after-reply`: forwards it, and cuts the client off the moment the server says it is done
 *   (ReadyForQuery): the call committed and the client never hears so;
 * - `late`: cuts the client off at once and hands the call to the server only `delayMs` later,
 *   as a connection reset in the network while the call is still on its way;
 * - `drop`: cuts the client off as it sends the call and closes the server's side: the server
 *   never runs it.
 */
export type Cut = { readonly kind: 'after-reply' } | { readonly kind: 'late'; readonly delayMs: number } | { readonly kind: 'drop' }

export interface CutProxy {
  /** The PostgreSQL URL `url` with its host and port replaced by the proxy's. */
  readonly url: string
  /** Arms `cut` for the next ref-moving call; resolves once it has been applied. */
  arm(cut: Cut): Promise<void>
  /** While true, every new connection is closed at once (the server looks unreachable). */
  refuse: boolean
  close(): Promise<void>
}

/** Reads PostgreSQL wire messages off a byte stream: an untyped startup message first, then typed ones. */
class MessageReader {
  #buffer = Buffer.alloc(0)
  #started: boolean

  constructor(typed: boolean) {
    this.#started = typed
  }

  /** The complete messages now buffered, each as its type (or '' for startup) and whole bytes. */
  push(chunk: Buffer): Array<{ type: string; bytes: Buffer }> {
    this.#buffer = Buffer.concat([this.#buffer, chunk])
    const out: Array<{ type: string; bytes: Buffer }> = []
    for (;;) {
      const header = this.#started ? 5 : 4
      if (this.#buffer.length < header) return out
      const length = this.#started ? this.#buffer.readInt32BE(1) + 1 : this.#buffer.readInt32BE(0)
      if (this.#buffer.length < length) return out
      const bytes = this.#buffer.subarray(0, length)
      out.push({ type: this.#started ? String.fromCharCode(bytes[0]!) : '', bytes })
      this.#buffer = this.#buffer.subarray(length)
      this.#started = true
    }
  }
}

const textOf = (bytes: Buffer) => bytes.subarray(5).toString('utf8')

/** The first `count` NUL-terminated strings of a message's body. */
function cStrings(bytes: Buffer, count: number): string[] {
  const out: string[] = []
  let at = 5
  for (let i = 0; i < count; i++) {
    const end = bytes.indexOf(0, at)
    if (end < 0) break
    out.push(bytes.subarray(at, end).toString('utf8'))
    at = end + 1
  }
  return out
}

/**
 * A TCP proxy in front of a PostgreSQL server that reads the protocol (no TLS: the test server
 * takes plain connections on loopback) to cut one connection at a chosen point around a call
 * that moves refs.
 * Closed after the test file's tests.
 */
export async function cutProxy(url: string): Promise<CutProxy> {
  const target = new URL(url)
  const sockets = new Set<Socket>()
  let armed: { cut: Cut; done: () => void } | undefined
  const server: Server = createServer((client) => {
    sockets.add(client)
    client.on('close', () => sockets.delete(client))
    client.on('error', () => undefined)
    if (proxy.refuse) return void client.destroy()
    const upstream = connect(Number(target.port), target.hostname)
    sockets.add(upstream)
    upstream.on('close', () => (sockets.delete(upstream), client.destroy()))
    upstream.on('error', () => undefined)
    const fromClient = new MessageReader(false)
    const fromServer = new MessageReader(true)
    // Prepared statements of this connection that call ckpt_update_refs, by name.
    const refMoving = new Set<string>()
    let cutting: { cut: Cut; done: () => void } | undefined
    // The held call's messages, for a `late` cut, until its Sync.
    let held: Buffer[] | undefined
    let awaitingReply = false
    client.on('close', () => {
      // A connection whose call is held back keeps its server side open until it is sent.
      if (cutting?.cut.kind !== 'late') upstream.destroy()
    })
    client.on('data', (chunk: Buffer) => {
      for (const message of fromClient.push(chunk)) {
        if (message.type === 'P') {
          const [name = '', text = ''] = cStrings(message.bytes, 2)
          if (/update_refs/.test(text)) refMoving.add(name)
          else refMoving.delete(name)
        }
        const moves = (message.type === 'B' && refMoving.has(cStrings(message.bytes, 2)[1] ?? '')) || (message.type === 'Q' && /update_refs/.test(textOf(message.bytes)))
        if (moves && armed && !cutting) {
          cutting = armed
          armed = undefined
          const { cut, done } = cutting
          if (cut.kind === 'drop') {
            upstream.destroy()
            client.destroy()
            return done()
          }
          if (cut.kind === 'late') {
            client.destroy()
            held = []
          }
          if (cut.kind === 'after-reply') awaitingReply = true
        }
        if (!held) {
          upstream.write(message.bytes)
          continue
        }
        held.push(message.bytes)
        if (message.type === 'S' || message.type === 'Q') {
          const call = held
          const { cut, done } = cutting!
          setTimeout(() => {
            for (const bytes of call) upstream.write(bytes)
            // Give the server time to run and commit it before its side closes too.
            setTimeout(() => (upstream.destroy(), done()), 500)
          }, cut.kind === 'late' ? cut.delayMs : 0)
          return
        }
      }
    })
    upstream.on('data', (chunk: Buffer) => {
      for (const message of fromServer.push(chunk)) {
        if (awaitingReply && message.type === 'Z') {
          const { done } = cutting!
          client.destroy()
          upstream.destroy()
          done()
          return
        }
        if (!client.destroyed) client.write(message.bytes)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const proxied = new URL(url)
  proxied.hostname = '127.0.0.1'
  proxied.port = String((server.address() as { port: number }).port)
  const proxy: CutProxy = {
    url: proxied.href,
    refuse: false,
    arm: (cut) => new Promise<void>((done) => (armed = { cut, done })),
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
  afterAll(() => proxy.close())
  return proxy
}

import { createConnection, createServer, type Server, type Socket } from 'node:net'

/**
 * A TCP proxy in front of a PostgreSQL server that counts the round trips its clients make: each
 * simple query ('Q') and each extended-protocol Sync ('S') is one request the client waits on.
 * Connection start-up and authentication are not counted.
 */
export class RoundTripCounter {
  #count = 0
  readonly #sockets = new Set<Socket>()

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  /** Starts a proxy to the server of `url`; its `url` is the same with host and port replaced. */
  static async start(url: string): Promise<RoundTripCounter> {
    const target = new URL(url)
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const proxied = new URL(url)
    proxied.hostname = '127.0.0.1'
    proxied.port = String((server.address() as { port: number }).port)
    const counter = new RoundTripCounter(server, proxied.href)
    server.on('connection', (client) => counter.#pipe(client, target.hostname, Number(target.port || 5432)))
    return counter
  }

  /** Round trips counted since the last call. */
  take(): number {
    const count = this.#count
    this.#count = 0
    return count
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy()
    await new Promise((resolve) => this.server.close(resolve))
  }

  #pipe(client: Socket, host: string, port: number): void {
    const upstream = createConnection(port, host)
    this.#sockets.add(client).add(upstream)
    let pending = Buffer.alloc(0)
    let started = false
    client.on('data', (data: Buffer) => {
      pending = Buffer.concat([pending, data])
      // The start-up message has no type byte; every later one is a type byte and a length.
      for (;;) {
        const header = started ? 5 : 4
        if (pending.length < header) break
        const length = started ? pending.readInt32BE(1) + 1 : pending.readInt32BE(0)
        if (pending.length < length) break
        if (started && (pending[0] === 0x51 || pending[0] === 0x53)) this.#count++
        started = true
        pending = pending.subarray(length)
      }
      upstream.write(data)
    })
    upstream.on('data', (data) => client.write(data))
    const end = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('close', end).on('error', end)
    upstream.on('close', end).on('error', end)
  }
}

import type { Argv } from 'yargs'
import { library, withStore, withoutPasswords } from '../store.js'

interface Args {
  store?: string
  pipeline?: string[]
  host: string
  port: number
  token?: string
  readOnly?: boolean
  cors?: string
  log?: boolean
}

export const serveCommand = {
  command: 'serve',
  describe: 'Serve the store over HTTP: a JSON API (OpenAPI at /openapi.json) and a browser view',
  builder: (y: Argv) =>
    y
      .option('pipeline', { type: 'string', array: true, describe: 'A pipeline file the replay, resume and task endpoints may run (repeat for several)' })
      .option('host', { type: 'string', default: '127.0.0.1', describe: 'Address to listen on; any but loopback needs --token' })
      .option('port', { type: 'number', default: 7433, describe: 'Port to listen on (0: any free port)' })
      .option('token', { type: 'string', describe: 'Bearer token every write must send (default $CKPT_TOKEN)' })
      .option('read-only', { type: 'boolean', describe: 'No write endpoints at all' })
      .option('cors', { type: 'string', describe: 'Let pages of this one origin call the API (e.g. https://ci.example.com)' })
      .option('log', { type: 'boolean', describe: 'Log every request on stderr (JSON lines)' })
      .example('$0 serve --pipeline pipeline.js', 'the API and the browser view on http://127.0.0.1:7433')
      .example('CKPT_TOKEN=s3cret $0 serve --host 0.0.0.0', 'shared with the team; writes need the token')
      .example('$0 serve --read-only --port 8080', 'an inspection-only view of a live store'),
  handler: async (args: Args) => {
    const { CkptError, loadPipelineModule } = await library()
    if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535) throw new CkptError('INVALID_ARGUMENT', `--port: ${JSON.stringify(args.port)} is not a port (0 to 65535)`)
    const token = args.token ?? (process.env.CKPT_TOKEN || undefined)
    const pipelines = await Promise.all((args.pipeline ?? []).map((file) => loadPipelineModule(file)))
    const { startServer } = await import('../../server/index.js')
    await withStore(args, async (store, dir) => {
      const server = await startServer({
        store,
        location: withoutPasswords(dir),
        pipelines,
        host: args.host,
        port: args.port,
        ...(token !== undefined && { token }),
        ...(args.readOnly && { readOnly: true }),
        ...(args.cors !== undefined && { cors: args.cors }),
        ...(args.log && { log: true }),
      })
      process.stderr.write(`ckpt serve: ${server.url} (store ${withoutPasswords(dir)}${args.readOnly ? ', read-only' : token ? ', writes need the token' : ''}; API ${server.url}/openapi.json)\n`)
      await new Promise<void>((resolve) => {
        const stop = () => resolve()
        process.once('SIGINT', stop)
        process.once('SIGTERM', stop)
      })
      await server.close()
    })
  },
}

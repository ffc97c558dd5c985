/**
 * The baseline for the `ckpt serve` rows: a bare Fastify, the framework ckpt serve is built on,
 * answering GET /log.json and GET /checkpoint.json with the bytes of the JSON files named on its
 * command line (read once at start), in a process of its own like the server it is compared with.
 * Prints its URL on stdout; stops on SIGTERM.
 */
import { readFileSync } from 'node:fs'
import Fastify from 'fastify'

const [logFile, checkpointFile] = process.argv.slice(2)
if (!logFile || !checkpointFile) throw new Error('usage: static-json-child.js LOG.json CHECKPOINT.json')
const bodies = { log: readFileSync(logFile), checkpoint: readFileSync(checkpointFile) }
const app = Fastify({ logger: false })
app.get('/log.json', async (_request, reply) => reply.type('application/json; charset=utf-8').send(bodies.log))
app.get('/checkpoint.json', async (_request, reply) => reply.type('application/json; charset=utf-8').send(bodies.checkpoint))
const address = await app.listen({ host: '127.0.0.1', port: 0 })
process.stdout.write(`${address}\n`)
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)))

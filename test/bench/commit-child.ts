/**
 * One `commit` of a file streamed into a store, in its own process so the bench can read the
 * process's peak RSS. Usage: node commit-child.js STORE FILE STAGE. Prints {"seconds", "id"}.
 */
import { createReadStream, existsSync } from 'node:fs'
import path from 'node:path'
import { initStore, openStore } from '../../src/index.js'

const [storeDir, file, stage] = process.argv.slice(2) as [string, string, string]
const options = { author: 'bench', level: { durability: 'fsync' } } as const
const store = existsSync(path.join(storeDir, 'ckpt-store.json')) ? await openStore(storeDir, options) : await initStore(storeDir, options)
const start = process.hrtime.bigint()
const checkpoint = await store.commit({ stage, output: createReadStream(file, { highWaterMark: 1024 * 1024 }) })
const seconds = Number(process.hrtime.bigint() - start) / 1e9
await store.close()
console.log(JSON.stringify({ seconds, id: checkpoint.stages[stage] }))

/**
 * Streams one blob out of a store to nowhere, in its own process so the bench can read the
 * process's peak RSS. Usage: node read-child.js STORE BLOB_ID. Prints {"seconds", "bytes"}.
 */
import { openStore } from '../../src/index.js'

const [storeDir, id] = process.argv.slice(2) as [string, string]
const store = await openStore(storeDir)
const start = process.hrtime.bigint()
let bytes = 0
for await (const piece of store.getBlobStream(id)) bytes += (piece as Uint8Array).length
const seconds = Number(process.hrtime.bigint() - start) / 1e9
await store.close()
console.log(JSON.stringify({ seconds, bytes }))

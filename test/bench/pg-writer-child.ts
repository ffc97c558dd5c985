/**
 * One writer of the PostgreSQL bench: COUNT commits of the 20-stage workload onto its own
 * timeline, started at START (ms since the epoch) so that all writers begin together. Each
 * writer's outputs are its own (they name it), as on machines running their own pipelines.
 * Usage: node pg-writer-child.js URL TIMELINE COUNT START. Prints {"start", "end"} (ms).
 */
import { openStore } from '../../src/index.js'
import { stageHistory } from './baselines.js'

const [url, timeline, count, startAt] = process.argv.slice(2) as [string, string, string, string]
const store = await openStore(url, { author: 'bench' })
const changes = stageHistory(Number(count)).map((c) => ({ stage: c.stage, output: { writer: timeline, ...(JSON.parse(c.json) as object) } }))
await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(startAt) - Date.now())))
const start = Date.now()
for (const change of changes) await store.commit({ timeline, ...change })
const end = Date.now()
await store.close()
console.log(JSON.stringify({ start, end }))

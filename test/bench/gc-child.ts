/**
 * One maintenance task on a store, in its own process so the bench can read the process's peak
 * RSS. Usage: node gc-child.js STORE gc|retain-gc KEEP|fsck|list. Prints {"seconds", ...}.
 *   gc          gc --prune=now (the mark and scan of everything; little or nothing to free)
 *   retain-gc   keep the newest KEEP checkpoints of main, then gc --prune=now (cuts and frees the rest)
 *   fsck        fsck --quick: the same reachability walk, checking instead of marking (the baseline)
 *   list        list every object id: the floor for touching the whole store
 */
import { openStore } from '../../src/index.js'

const [storeDir, mode, keep] = process.argv.slice(2) as [string, string, string | undefined]
const store = await openStore(storeDir)
const start = process.hrtime.bigint()
let result: unknown
if (mode === 'gc') result = await store.gc({ prune: 'now' })
else if (mode === 'retain-gc') {
  await store.retention.set('main', { keepLast: Number(keep) })
  result = await store.gc({ prune: 'now' })
} else if (mode === 'fsck') result = (await store.fsck({ quick: true })).checked
else {
  let objects = 0
  for await (const _ of store.objects()) objects++
  result = { objects }
}
const seconds = Number(process.hrtime.bigint() - start) / 1e9
await store.close()
console.log(JSON.stringify({ seconds, result }))

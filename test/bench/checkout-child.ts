/**
 * The directory checkout of issue 18 item 13, in its own process so the bench can read its peak
 * RSS.
 *   node checkout-child.js commit STORE SOURCE COUNT  writes COUNT small files (~1 KB, 100 per
 *                                                     folder) under SOURCE and commits them as
 *                                                     the directory output `files`
 *   node checkout-child.js checkout STORE TARGET      `checkout main --to TARGET`
 * `checkout` prints {"seconds", "files"}.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { initStore, openStore, readDirectory } from '../../src/index.js'

const [mode, storeDir, dir, countText = '50000'] = process.argv.slice(2)
if (!storeDir || !dir || (mode !== 'commit' && mode !== 'checkout')) throw new Error('usage: checkout-child.js commit|checkout STORE DIR [COUNT]')

if (mode === 'commit') {
  const count = Number(countText)
  for (let i = 0; i < count; i++) {
    const folder = path.join(dir, `d${String(Math.floor(i / 100)).padStart(4, '0')}`)
    if (i % 100 === 0) mkdirSync(folder, { recursive: true })
    writeFileSync(path.join(folder, `f${i}.txt`), `file ${i} `.repeat(100))
  }
  const store = await initStore(storeDir, { author: 'bench' })
  await store.commit({ stage: 'files', output: await readDirectory(dir) })
  await store.close()
} else {
  const store = await openStore(storeDir)
  const start = process.hrtime.bigint()
  await store.restore('main', { to: dir })
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  await store.close()
  const files = readdirSync(path.join(dir, 'files'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length
  console.log(JSON.stringify({ seconds, files }))
}

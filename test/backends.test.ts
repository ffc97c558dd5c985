import { mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createMemoryBackend, openLevelBackend, type Backend } from '../src/index.js'
import { backendConformance } from './support/backend-conformance.js'

const freshDbPath = () => path.join(mkdtempSync(path.join(os.tmpdir(), 'ckpt-conf-')), 'db')
/** The built library, which the suite's other process imports to open the same store. */
const builtIndex = fileURLToPath(new URL('../dist/src/index.js', import.meta.url))

await backendConformance('memory', async () => createMemoryBackend())

await backendConformance('level (LevelDB on disk)', () => openLevelBackend(freshDbPath(), { createIfMissing: true }), {
  create: async () => {
    const location = freshDbPath()
    await (await openLevelBackend(location, { createIfMissing: true })).close()
    return location
  },
  module: builtIndex,
  exportName: 'openLevelBackend',
})

// The same contract through the socket a second opener uses while the first holds the database.
await backendConformance('level, as a follower of the process holding the database', async (): Promise<Backend> => {
  const location = freshDbPath()
  const leader = await openLevelBackend(location, { createIfMissing: true })
  const follower = await openLevelBackend(location)
  return {
    description: follower.description,
    supports: follower.supports,
    objects: follower.objects,
    refs: follower.refs,
    ...(follower.scratch && { scratch: follower.scratch }),
    ...(follower.prepareForBlockingWork && { prepareForBlockingWork: () => follower.prepareForBlockingWork!() }),
    async close() {
      await follower.close()
      await leader.close()
    },
  }
})

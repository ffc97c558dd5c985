import { mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'vitest'
import { createMemoryBackend, openLevelBackend, type Backend } from '../src/index.js'
import { backendConformance, type ConformanceTarget } from '../src/testing/index.js'

/** The exported suite (`ckpt/testing`), run with vitest: one test per case. */
async function conformance(name: string, target: ConformanceTarget): Promise<void> {
  const cases = await backendConformance(target)
  describe(`backend conformance: ${name}`, () => {
    for (const c of cases) it(c.name, c.run)
  })
}

const freshDbPath = () => path.join(mkdtempSync(path.join(os.tmpdir(), 'ckpt-conf-')), 'db')
/** The built library, which the suite's other process imports to open the same store. */
const builtIndex = fileURLToPath(new URL('../dist/src/index.js', import.meta.url))

await conformance('memory', { open: async () => createMemoryBackend() })

await conformance('level (LevelDB on disk)', {
  open: () => openLevelBackend(freshDbPath(), { createIfMissing: true }),
  shared: {
    create: async () => {
      const location = freshDbPath()
      await (await openLevelBackend(location, { createIfMissing: true })).close()
      return location
    },
    module: builtIndex,
    exportName: 'openLevelBackend',
  },
})

// The same contract through the socket a second opener uses while the first holds the database.
await conformance('level, as a follower of the process holding the database', {
  open: async (): Promise<Backend> => {
    const location = freshDbPath()
    const leader = await openLevelBackend(location, { createIfMissing: true })
    const follower = await openLevelBackend(location)
    return {
      description: follower.description,
      supports: follower.supports,
      objects: follower.objects,
      refs: follower.refs,
      ...(follower.prepareForBlockingWork && { prepareForBlockingWork: () => follower.prepareForBlockingWork!() }),
      async close() {
        await follower.close()
        await leader.close()
      },
    }
  },
})

import { mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createMemoryBackend, openLevelBackend, type Backend } from '../src/index.js'
import { backendConformance } from './support/backend-conformance.js'

const freshDbPath = () => path.join(mkdtempSync(path.join(os.tmpdir(), 'ckpt-conf-')), 'db')

backendConformance('memory', async () => createMemoryBackend(), { scratch: true })

backendConformance('level (LevelDB on disk)', () => openLevelBackend(freshDbPath(), { createIfMissing: true }), { scratch: true })

// The same contract through the socket a second opener uses while the first holds the database.
backendConformance('level, as a follower of the process holding the database', async (): Promise<Backend> => {
  const location = freshDbPath()
  const leader = await openLevelBackend(location, { createIfMissing: true })
  const follower = await openLevelBackend(location)
  return {
    description: follower.description,
    objects: follower.objects,
    refs: follower.refs,
    scratch: follower.scratch,
    async close() {
      await follower.close()
      await leader.close()
    },
  }
}, { scratch: true })

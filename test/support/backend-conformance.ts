import { beforeAll, describe, it } from 'vitest'
import type { Backend, BackendSupports } from '../../src/index.js'
import { conformanceCases, type ConformanceTarget } from '../../src/testing/index.js'

/**
 * The exported suite (`ckpt/testing`) as vitest tests, in one call:
 * `backendConformance('name', () => openFreshBackend())`. A case of a capability the backend
 * does not declare is reported as skipped.
 */
export function backendConformance(name: string, open: () => Promise<Backend>, shared?: ConformanceTarget['shared']): void {
  describe(`backend conformance: ${name}`, () => {
    let supports: BackendSupports
    beforeAll(async () => {
      const probe = await open()
      supports = probe.supports
      await probe.close()
    })
    for (const c of conformanceCases({ open, ...(shared && { shared }) })) {
      it(c.name, async (context) => {
        if (c.capability !== undefined && !supports[c.capability]) return context.skip()
        await c.run()
      })
    }
  })
}

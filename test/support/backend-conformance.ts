import { describe, it } from 'vitest'
import type { Backend } from '../../src/index.js'
import { backendConformance as casesFor, type ConformanceTarget } from '../../src/testing/index.js'

/**
 * The exported suite (`ckpt/testing`) as vitest tests, in one call at the top of a test file:
 * `await backendConformance('name', () => openFreshBackend())`. It opens one backend first to
 * read what it declares, so only the cases of declared capabilities are registered (the suite
 * checks separately that an undeclared capability's method is absent).
 */
export async function backendConformance(name: string, open: () => Promise<Backend>, shared?: ConformanceTarget['shared']): Promise<void> {
  const cases = await casesFor({ open, ...(shared && { shared }) })
  describe(`backend conformance: ${name}`, () => {
    for (const c of cases) it(c.name, c.run)
  })
}

import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // LangGraph's conformance suite (test/langgraph) is written against vitest's globals.
    globals: true,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
})

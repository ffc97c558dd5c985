import { CkptError } from '../errors.js'
import { levelProvider } from '../backend/level/store-folder.js'
import { createMemoryBackend } from '../backend/memory.js'
import { postgresProvider } from '../backend/postgres/provider.js'
import { BackendRegistry, type BackendProvider } from '../backend/registry.js'

/** `memory:`: a new, empty store in this process's memory, gone once closed (for tests and embedding). */
const memoryProvider: BackendProvider = {
  name: 'memory',
  schemes: ['memory'],
  optionNames: [],
  async create(location) {
    checkMemoryLocation(location)
    return { backend: createMemoryBackend() }
  },
  async open(location) {
    checkMemoryLocation(location)
    return { backend: createMemoryBackend(), fresh: true }
  },
}

function checkMemoryLocation(location: string): void {
  if (location !== 'memory:') {
    throw new CkptError('INVALID_ARGUMENT', `a memory store is named "memory:" alone, not "${location}"`, { details: { location } })
  }
}

/** The backends stores can be opened on, by location: paths on LevelDB, `memory:`, `postgres://…`, and any registered. */
export const backends = new BackendRegistry()
backends.register(levelProvider)
backends.register(memoryProvider)
backends.register(postgresProvider)

/**
 * Lets `openStore` and `initStore` open stores on another backend: locations of the provider's
 * URL schemes go to it, with the options given under its name.
 */
export function registerBackend<Options extends object>(provider: BackendProvider<Options>): void {
  backends.register(provider)
}

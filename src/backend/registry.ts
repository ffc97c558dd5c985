import { CkptError } from '../errors.js'
import type { Backend } from './interface.js'

/*
 * How a store's location picks its backend. A location is a path (the backend registered for
 * paths, LevelDB) or `scheme:…` (`memory:`, `postgres://…`): the backend registered for that
 * scheme. Each backend takes its own options under its own name (`{ level: { durability } }`),
 * and refuses none silently: an option given to a backend that does not take it is an error.
 * This module names no engine; the store facade registers the ones ckpt ships.
 */

/** The store formats the opening build reads: a backend that records one checks it before writing anything. */
export interface StoreFormat {
  /** The format this build writes. */
  readonly current: number
  /** Older formats it opens, upgrading them to `current`. */
  readonly upgradable: readonly number[]
}

export interface OpenedBackend {
  readonly backend: Backend
  /**
   * False when the store may be read but not upgraded to the current format (its files cannot
   * be written). Default true.
   */
  readonly mayUpgrade?: boolean
  /** The location held no store and this call made an empty one (`memory:`): it is initialized before use. */
  readonly fresh?: boolean
  /** Writes are made to survive power loss: the store then fsyncs what it writes outside itself (checkout) too. */
  readonly durable?: boolean
}

export interface CreatedBackend {
  readonly backend: Backend
  /** A store whose creation crashed before `seal` may be created again over it. */
  readonly resumable?: boolean
  readonly durable?: boolean
  /** Marks the location as holding a store once it is initialized: a crash before leaves none that opens. */
  seal?(): Promise<void>
}

/** A backend that stores can live on, chosen by location. */
export interface BackendProvider<Options extends object = object> {
  /** Its name, and the key of its options in the store's options: `level`, `memory`, `postgres`. */
  readonly name: string
  /** URL schemes it serves, without the colon (`postgres`, `postgresql`); none: it serves plain paths. */
  readonly schemes: readonly string[]
  /** The options it takes; any other is refused. */
  readonly optionNames: readonly string[]
  /** The location as recorded (for remotes): a path made absolute, a URL as given. Default: as given. */
  canonical?(location: string): string
  /** Creates an empty store's storage at `location`; STORE_EXISTS when one is there. */
  create(location: string, options: Options, format: StoreFormat): Promise<CreatedBackend>
  /** Opens the storage of the store at `location`; NOT_A_STORE when there is none. */
  open(location: string, options: Options, format: StoreFormat): Promise<OpenedBackend>
}

/** A provider with the option type left open, as the registry holds them (each checks its own). */
type AnyProvider = BackendProvider<never>

/** `postgres:` of `postgres://host/db`; not a one-letter drive (`C:\store`). */
const SCHEME = /^([a-z][a-z0-9+.-]+):/i

export class BackendRegistry {
  readonly #byScheme = new Map<string, AnyProvider>()
  readonly #byName = new Map<string, AnyProvider>()
  #forPaths: AnyProvider | undefined

  /** Adds a backend; INVALID_ARGUMENT when its name or one of its schemes is taken. */
  register<Options extends object>(provider: BackendProvider<Options>): void {
    if (this.#byName.has(provider.name)) throw new CkptError('INVALID_ARGUMENT', `a backend named "${provider.name}" is registered already`)
    const schemes = provider.schemes.map((s) => s.toLowerCase())
    for (const scheme of schemes) {
      if (!SCHEME.test(`${scheme}:`)) throw new CkptError('INVALID_ARGUMENT', `"${scheme}" is not a URL scheme`)
      if (this.#byScheme.has(scheme)) throw new CkptError('INVALID_ARGUMENT', `the scheme "${scheme}:" is registered already, to ${this.#byScheme.get(scheme)!.name}`)
    }
    if (schemes.length === 0 && this.#forPaths) throw new CkptError('INVALID_ARGUMENT', `paths are served already, by ${this.#forPaths.name}`)
    this.#byName.set(provider.name, provider)
    for (const scheme of schemes) this.#byScheme.set(scheme, provider)
    if (schemes.length === 0) this.#forPaths = provider
  }

  /**
   * The backend for `location` and its own options out of `backendOptions` (the store's options
   * other than the core's). INVALID_ARGUMENT for an unknown scheme, an option that belongs to
   * another backend, or one no backend takes.
   */
  choose(location: string, backendOptions: Readonly<Record<string, unknown>>): { provider: AnyProvider; options: never } {
    const provider = this.#providerFor(location)
    let options = {} as never
    for (const [key, value] of Object.entries(backendOptions)) {
      if (value === undefined) continue
      if (key === provider.name) options = checkOwnOptions(provider, shown(location), value) as never
      else throw new CkptError('INVALID_ARGUMENT', this.#misplacedOption(key, provider, shown(location)), { details: { option: key, backend: provider.name } })
    }
    return { provider, options }
  }

  /** The location as remotes record it. */
  canonical(location: string): string {
    const provider = this.#providerFor(location)
    return provider.canonical ? provider.canonical(location) : location
  }

  #providerFor(location: string): AnyProvider {
    if (typeof location !== 'string' || location === '') throw new CkptError('INVALID_ARGUMENT', `a store location must be a path or a URL, not ${JSON.stringify(location)}`)
    const scheme = SCHEME.exec(location)?.[1]?.toLowerCase()
    if (scheme === undefined) {
      if (this.#forPaths) return this.#forPaths
      throw new CkptError('INVALID_ARGUMENT', `no backend for a store at a path (${location}) is registered`, { details: { path: location } })
    }
    const provider = this.#byScheme.get(scheme)
    if (provider) return provider
    const known = [...this.#byScheme.keys()].map((s) => `${s}:`).join(', ')
    throw new CkptError('INVALID_ARGUMENT', `no backend serves "${scheme}:" locations (${scheme}:…); known: ${known || 'none'}, or a path`, {
      details: { location: `${scheme}:`, scheme },
    })
  }

  #misplacedOption(key: string, provider: AnyProvider, location: string): string {
    const owner = this.#byName.get(key)
    if (owner) return `"${key}" options are for ${describe(owner)}; the store at ${location} is on ${describe(provider)}`
    const takenBy = [...this.#byName.values()].find((p) => p.optionNames.includes(key))
    const hint = takenBy ? `; it is an option of ${describe(takenBy)}: { ${takenBy.name}: { ${key} } }` : ''
    return `"${key}" is not a store option${hint}`
  }
}

function checkOwnOptions(provider: AnyProvider, location: string, value: unknown): object {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CkptError('INVALID_ARGUMENT', `the "${provider.name}" options must be an object`, { details: { option: provider.name } })
  }
  for (const [key, v] of Object.entries(value)) {
    if (v !== undefined && !provider.optionNames.includes(key)) {
      const takes = provider.optionNames.length === 0 ? 'takes no options' : `takes ${provider.optionNames.join(', ')}`
      throw new CkptError('INVALID_ARGUMENT', `"${provider.name}.${key}" is not an option of ${describe(provider)} (at ${location}); it ${takes}`, {
        details: { option: `${provider.name}.${key}`, backend: provider.name },
      })
    }
  }
  return value
}

/** A location fit to print: the password of a URL left out. */
export function shown(location: string): string {
  return location.replace(/^([a-z][a-z0-9+.-]+:\/\/[^/@:]*):[^/@]*@/i, '$1:***@')
}

function describe(provider: AnyProvider): string {
  return provider.schemes.length === 0 ? `the ${provider.name} backend (a path)` : `the ${provider.name} backend (${provider.schemes.map((s) => `${s}:`).join(', ')})`
}

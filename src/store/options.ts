import type { LevelStoreOptions } from '../backend/level/store-folder.js'
import type { PostgresStoreOptions } from '../backend/postgres/provider.js'

/** Options of the store itself, whatever backend it is on. */
export interface CommonStoreOptions {
  /** Clock for checkpoint and reflog times (ms since epoch); inject for deterministic tests. */
  readonly clock?: () => number
  /** Default author of checkpoints; default `$CKPT_AUTHOR` or the OS user name. */
  readonly author?: string
}

/**
 * Each backend's own options, under its name. Only the backend the location chooses may be
 * given options: `{ level: … }` for a store at a path is refused for `memory:`.
 */
export interface BackendOptions {
  /** A store at a path, on LevelDB. */
  readonly level?: LevelStoreOptions
  /** A store at `postgres://…` or `postgresql://…`. */
  readonly postgres?: PostgresStoreOptions
}

/** `openStore(location, options)`: e.g. `{ author: 'ci', level: { durability: 'fsync' } }`. */
export interface StoreOptions extends CommonStoreOptions, BackendOptions {}

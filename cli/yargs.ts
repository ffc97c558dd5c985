import { createRequire } from 'node:module'
import type yargsFactory from 'yargs'

/**
 * yargs through its CommonJS entry. Its ESM entry lays help out with cliui's ESM build, whose
 * stand-in for wrap-ansi cuts a line every N characters, mid-word ("outpu t id"); the CommonJS
 * build wraps on word boundaries with wrap-ansi. Same package, same API.
 */
export const yargs = createRequire(import.meta.url)('yargs') as typeof yargsFactory

import { library } from './store.js'

const UNIT_MS: Record<string, number> = {
  s: 1000, sec: 1000, second: 1000,
  m: 60_000, min: 60_000, minute: 60_000,
  h: 3_600_000, hour: 3_600_000,
  d: 86_400_000, day: 86_400_000,
  w: 604_800_000, week: 604_800_000,
  y: 31_536_000_000, year: 31_536_000_000,
}

/**
 * An age given on the command line, in milliseconds: `now` (0), `90d`, `2w`, `12h`, `30m`,
 * git's `2.weeks.ago` and `2 days ago`, or a past date (the time since it). Undefined when it is none of those.
 */
export function parseAge(text: string, now = Date.now()): number | undefined {
  const trimmed = text.trim().toLowerCase()
  if (trimmed === 'now') return 0
  const match = /^(\d+(?:\.\d+)?)[\s.]*([a-z]+?)s?(?:[\s.]+ago)?$/.exec(trimmed)
  const unit = match ? UNIT_MS[match[2]!] : undefined
  if (match && unit !== undefined) return Math.round(Number(match[1]) * unit)
  const date = Date.parse(text)
  return Number.isFinite(date) && date <= now ? now - date : undefined
}

/** The age an option gives, in milliseconds; INVALID_ARGUMENT (a usage error) naming the option and value when it is none. */
export async function ageOption(option: string, text: string): Promise<number> {
  const age = parseAge(text)
  if (age !== undefined) return age
  const { CkptError } = await library()
  throw new CkptError('INVALID_ARGUMENT', `${option}: "${text}" is not an age (now, 90d, 2w, 12h, 2.weeks.ago) or a past date`, { details: { value: text } })
}

/**
 * A point in time given on the command line (`log --since/--until`), in epoch milliseconds: an
 * age as {@link parseAge} reads it (`2 days ago`, `90d`) counted back from now, or a date;
 * INVALID_ARGUMENT naming the option and value when it is neither.
 */
export async function timeOption(option: string, text: string, now = Date.now()): Promise<number> {
  const age = parseAge(text, now)
  if (age !== undefined) return now - age
  const date = Date.parse(text)
  if (Number.isFinite(date)) return date
  const { CkptError } = await library()
  throw new CkptError('INVALID_ARGUMENT', `${option} "${text}": not a date (2026-11-22, 2026-11-22T10:00Z) or an age (2 days ago, 12h, 2.weeks.ago)`, { details: { value: text } })
}

/**
 * Validation of the names users give to refs (timelines, tags, …) and to stages.
 *
 * Ref names follow git's `git check-ref-format` rules so that every ckpt ref could also be a
 * git ref, and so that revision expressions (`main~2`, `v1^`, `HEAD@{1}`) can never be confused
 * with a name. Stage names are looser (they are keys, not paths) but must still be safe to show
 * in a terminal and to use as a single path segment.
 *
 * Each rule has a short, stable identifier (`details.rule` of the thrown error) so that callers
 * and tests can branch on which rule was broken without parsing messages.
 */
import { BoundedMap } from '../bounded-map.js'
import { CkptError, quoted as quote } from '../errors.js'
import { codePointLabel, findStageNameViolation, isAsciiControl, isWellFormedUnicode, notWellFormed, type Violation } from '../model/name-rules.js'

/**
 * Names already found valid. A commit checks every stage and ref name it is given, and a
 * pipeline gives the same few names again and again.
 */
const validRefNames = new BoundedMap<string, true>(10_000)
const validStageNames = new BoundedMap<string, true>(10_000)

/** Longest ref name accepted, in UTF-8 bytes (a common file-name limit, since refs may become files). */
const MAX_REF_NAME_BYTES = 255

/** Printable ASCII characters git forbids anywhere in a ref name (they have meaning in revision syntax or globs). */
const FORBIDDEN_REF_CHARS: ReadonlySet<string> = new Set([' ', '~', '^', ':', '?', '*', '[', '\\'])

/**
 * Throws `INVALID_REF_NAME` when `name` breaks one of git's `check-ref-format` rules, or is longer
 * than 255 UTF-8 bytes, or is not well-formed Unicode.
 *
 * `what` names the kind of ref in the message (e.g. `'timeline name'`), so users see
 * `invalid timeline name "a..b": it may not contain ".."`. The error's `details` are
 * `{ name, rule }` where `rule` is one of: `not-a-string`, `empty`, `not-well-formed`, `too-long`,
 * `control-char`, `forbidden-char`, `empty-component`, `double-dot`, `leading-dot`, `lock-suffix`,
 * `trailing-dot`, `at-brace`, `at-sign`. When a name breaks several rules, the first in this
 * list is reported.
 */
export function checkRefName(name: string, what = 'ref name'): void {
  if (validRefNames.has(name)) return
  const violation = findRefNameViolation(name)
  if (violation !== undefined) {
    throw new CkptError('INVALID_REF_NAME', `invalid ${what} ${quote(name)}: ${violation.reason}`, {
      details: { name, rule: violation.rule },
    })
  }
  validRefNames.set(name, true)
}

/** True when {@link checkRefName} would accept `name`; for callers that want to branch rather than catch. */
export function isValidRefName(name: string): boolean {
  return findRefNameViolation(name) === undefined
}

/**
 * Throws `INVALID_ARGUMENT` when `name` cannot be a stage name.
 *
 * A stage name is a non-empty string of at most 200 code points, well-formed Unicode, with no
 * `/` or `\` (it must stay one path segment), no control characters (C0, DEL, C1), not `.` or
 * `..`, and no leading or trailing whitespace (which would be invisible in listings). Colons are
 * allowed, so names like `detect:v2` work. The error's `details` are `{ name, rule }` where
 * `rule` is one of: `not-a-string`, `empty`, `not-well-formed`, `too-long`, `control-char`,
 * `separator`, `dot-name`, `surrounding-whitespace` (the first broken one in this order).
 */
export function checkStageName(name: string): void {
  if (validStageNames.has(name)) return
  const violation = findStageNameViolation(name)
  if (violation !== undefined) {
    throw new CkptError('INVALID_ARGUMENT', `invalid stage name ${quote(name)}: ${violation.reason}`, {
      details: { name, rule: violation.rule },
    })
  }
  validStageNames.set(name, true)
}

/** The first ref-name rule `name` breaks, in the documented order, or undefined when it is valid. */
function findRefNameViolation(name: unknown): Violation | undefined {
  if (typeof name !== 'string') return { rule: 'not-a-string', reason: 'it must be a string' }
  if (name === '') return { rule: 'empty', reason: 'it may not be empty' }
  if (!isWellFormedUnicode(name)) return notWellFormed()
  const bytes = Buffer.byteLength(name, 'utf8')
  if (bytes > MAX_REF_NAME_BYTES) {
    return { rule: 'too-long', reason: `it may be at most ${MAX_REF_NAME_BYTES} bytes of UTF-8 (it is ${bytes})` }
  }
  return findRefCharacterViolation(name) ?? findRefStructureViolation(name)
}

/** Rules about single characters: ASCII controls and the characters git reserves for revision syntax. */
function findRefCharacterViolation(name: string): Violation | undefined {
  for (const char of name) {
    if (isAsciiControl(char)) {
      return { rule: 'control-char', reason: `it may not contain control characters (found ${codePointLabel(char)})` }
    }
    if (FORBIDDEN_REF_CHARS.has(char)) {
      const shown = char === ' ' ? 'spaces' : JSON.stringify(char)
      return { rule: 'forbidden-char', reason: `it may not contain ${shown}` }
    }
  }
  return undefined
}

/** Rules about the shape of the name and of its '/'-separated components. */
function findRefStructureViolation(name: string): Violation | undefined {
  if (name.startsWith('/') || name.endsWith('/') || name.includes('//')) {
    return { rule: 'empty-component', reason: 'it may not begin or end with "/" or contain "//"' }
  }
  if (name.includes('..')) return { rule: 'double-dot', reason: 'it may not contain ".."' }
  const components = name.split('/')
  if (components.some((component) => component.startsWith('.'))) {
    return { rule: 'leading-dot', reason: 'no part of it between slashes may begin with "."' }
  }
  if (components.some((component) => component.endsWith('.lock'))) {
    return { rule: 'lock-suffix', reason: 'no part of it between slashes may end with ".lock"' }
  }
  if (name.endsWith('.')) return { rule: 'trailing-dot', reason: 'it may not end with "."' }
  if (name.includes('@{')) return { rule: 'at-brace', reason: 'it may not contain "@{"' }
  if (name === '@') return { rule: 'at-sign', reason: 'it may not be "@" alone' }
  return undefined
}

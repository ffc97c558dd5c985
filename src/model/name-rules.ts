/**
 * The pure rules for names, shared by the commands that take a name from a user (src/refs/names.ts)
 * and by the decoders of nodes that carry names in data (checkpoint stage maps): a name arriving
 * in a CAR, a git mirror or a push is held to the same rules as one typed on the command line.
 * No imports, so the model layer can use it.
 */

/** Which rule a name breaks: a stable id for machines and the reason in plain words for people. */
export interface Violation {
  readonly rule: string
  readonly reason: string
}

/** Longest stage name accepted, in Unicode code points. */
const MAX_STAGE_NAME_CHARS = 200

/** Stage names found valid lately: every checkpoint node read names its stages again. */
const validStageNames = new Set<string>()
const REMEMBERED_STAGE_NAMES = 4096

/** The first stage-name rule `name` breaks, in the documented order, or undefined when it is valid. */
export function findStageNameViolation(name: unknown): Violation | undefined {
  if (typeof name === 'string' && validStageNames.has(name)) return undefined
  const violation = stageNameViolation(name)
  if (violation === undefined) {
    if (validStageNames.size >= REMEMBERED_STAGE_NAMES) validStageNames.clear()
    validStageNames.add(name as string)
  }
  return violation
}

function stageNameViolation(name: unknown): Violation | undefined {
  if (typeof name !== 'string') return { rule: 'not-a-string', reason: 'it must be a string' }
  if (name === '') return { rule: 'empty', reason: 'it may not be empty' }
  if (!isWellFormedUnicode(name)) return notWellFormed()
  const length = codePointLength(name)
  if (length > MAX_STAGE_NAME_CHARS) {
    return { rule: 'too-long', reason: `it may be at most ${MAX_STAGE_NAME_CHARS} characters (it is ${length})` }
  }
  return findStageCharacterViolation(name) ?? findStageShapeViolation(name)
}

/** Rules about single characters in a stage name: controls and path separators. */
function findStageCharacterViolation(name: string): Violation | undefined {
  for (const char of name) {
    if (isAsciiControl(char) || isC1Control(char)) {
      return { rule: 'control-char', reason: `it may not contain control characters (found ${codePointLabel(char)})` }
    }
    if (char === '/' || char === '\\') {
      return { rule: 'separator', reason: `it may not contain ${JSON.stringify(char)}` }
    }
  }
  return undefined
}

/** Rules about the stage name as a whole: the special directory names and invisible padding. */
function findStageShapeViolation(name: string): Violation | undefined {
  if (name === '.' || name === '..') return { rule: 'dot-name', reason: 'it may not be "." or ".."' }
  if (/^\s|\s$/u.test(name)) {
    return { rule: 'surrounding-whitespace', reason: 'it may not begin or end with whitespace' }
  }
  return undefined
}

/** Longest run or job id accepted, in UTF-8 bytes: as long as a ref name, since a pipeline's run id is one. */
const MAX_ID_BYTES = 255

/**
 * The first rule a run or job id breaks, or undefined when it is valid: the same for an id given
 * to `commit` and one arriving in imported data. An id is plain text shown in `log` and `show`,
 * so it may hold `/` or `..`, but no control characters.
 */
export function findRunIdViolation(id: unknown): Violation | undefined {
  if (typeof id !== 'string') return { rule: 'not-a-string', reason: 'it must be a string' }
  if (id === '') return { rule: 'empty', reason: 'it may not be empty' }
  if (!isWellFormedUnicode(id)) return notWellFormed()
  const bytes = new TextEncoder().encode(id).length
  if (bytes > MAX_ID_BYTES) return { rule: 'too-long', reason: `it may be at most ${MAX_ID_BYTES} bytes in UTF-8 (it is ${bytes})` }
  for (const char of id) {
    if (isAsciiControl(char) || isC1Control(char)) {
      return { rule: 'control-char', reason: `it may not contain control characters (found ${codePointLabel(char)})` }
    }
  }
  return undefined
}

export function notWellFormed(): Violation {
  return { rule: 'not-well-formed', reason: 'it is not well-formed Unicode (it contains a lone surrogate)' }
}


/**
 * True when `text` has no lone (unpaired) UTF-16 surrogate. Iterating a string by code points
 * yields a lone surrogate as its own one-unit "character", which is how it is spotted here.
 */
export function isWellFormedUnicode(text: string): boolean {
  for (const char of text) {
    const codePoint = char.codePointAt(0) ?? 0
    if (codePoint >= 0xd800 && codePoint <= 0xdfff) return false
  }
  return true
}

/** True for ASCII control characters: U+0000–U+001F and DEL (U+007F). */
export function isAsciiControl(char: string): boolean {
  const codePoint = char.codePointAt(0) ?? 0
  return codePoint < 0x20 || codePoint === 0x7f
}

/** True for the C1 control characters U+0080–U+009F. */
function isC1Control(char: string): boolean {
  const codePoint = char.codePointAt(0) ?? 0
  return codePoint >= 0x80 && codePoint <= 0x9f
}

/** Number of Unicode code points in `text` (not UTF-16 units), counting without building an array. */
function codePointLength(text: string): number {
  let count = 0
  for (const _char of text) count++
  return count
}

/** `U+0007`-style label for a character, readable even when the character itself is invisible. */
export function codePointLabel(char: string): string {
  return `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`
}

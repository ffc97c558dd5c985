/**
 * Ref values and reflog text as `text` columns. PostgreSQL's text cannot hold U+0000, which a
 * LevelDB store keeps (a commit message in a reflog reason, an index value), so it is written as
 * ESCAPE + '0', and ESCAPE itself (U+FFFF, a noncharacter) as ESCAPE + 'e'. Strings holding
 * neither, every id and name ckpt writes, are stored as they are.
 */
const ESCAPE = '\uffff'
const NEEDS_ESCAPE = /[\u0000\uffff]/
const ESCAPED = /\uffff([0e])/g

export function toColumn(text: string): string
export function toColumn(text: string | null): string | null
export function toColumn(text: string | null): string | null {
  if (text === null || !NEEDS_ESCAPE.test(text)) return text
  return text.replace(/[\u0000\uffff]/g, (c) => (c === ESCAPE ? `${ESCAPE}e` : `${ESCAPE}0`))
}

export function fromColumn(text: string): string
export function fromColumn(text: string | null): string | null
export function fromColumn(text: string | null): string | null {
  if (text === null || !text.includes(ESCAPE)) return text
  return text.replace(ESCAPED, (_, c: string) => (c === 'e' ? ESCAPE : '\u0000'))
}

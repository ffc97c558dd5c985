import { CkptError } from '../errors.js'

/** Splits an RFC 6901 JSON Pointer into unescaped tokens ('' is the whole document). */
export function parsePointer(pointer: string): string[] {
  if (pointer === '') return []
  if (!pointer.startsWith('/')) throw new CkptError('INVALID_REVISION', `"${pointer}" is not a JSON pointer (it must start with "/")`, { details: { pointer } })
  return pointer
    .slice(1)
    .split('/')
    .map((token) => token.replaceAll('~1', '/').replaceAll('~0', '~'))
}

/** The value at `pointer` inside `value`; NOT_FOUND naming the first missing step. */
export function selectPointer(value: unknown, pointer: string): unknown {
  let current = value
  let walked = ''
  for (const token of parsePointer(pointer)) {
    walked += '/' + token.replaceAll('~', '~0').replaceAll('/', '~1')
    if (Array.isArray(current) && /^(0|[1-9]\d*)$/.test(token) && Number(token) < current.length) {
      current = current[Number(token)]
    } else if (current !== null && typeof current === 'object' && !Array.isArray(current) && !(current instanceof Uint8Array) && Object.hasOwn(current, token)) {
      current = (current as Record<string, unknown>)[token]
    } else {
      throw new CkptError('NOT_FOUND', `nothing at ${walked} in the output`, { details: { pointer, missing: walked } })
    }
  }
  return current
}

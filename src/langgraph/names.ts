/**
 * LangGraph thread ids, namespaces and checkpoint ids become parts of ckpt ref names. Characters
 * outside [A-Za-z0-9_-] are written as %XX (UTF-8), and the empty namespace as a lone "%", so
 * every name is ref-safe, readable for ordinary ids, and decodes back exactly.
 */
const SAFE = /^[A-Za-z0-9_-]+$/

export function encodePart(value: string): string {
  if (value === '') return '%'
  // Most ids (uuids, thread names) need no escaping: every put encodes several.
  if (SAFE.test(value)) return value
  let out = ''
  for (const byte of Buffer.from(value, 'utf8')) {
    const char = String.fromCharCode(byte)
    out += /[A-Za-z0-9_-]/.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

export function decodePart(encoded: string): string {
  if (encoded === '%') return ''
  if (!encoded.includes('%')) return encoded
  const bytes: number[] = []
  for (let i = 0; i < encoded.length; i++) {
    if (encoded[i] === '%') {
      bytes.push(parseInt(encoded.slice(i + 1, i + 3), 16))
      i += 2
    } else bytes.push(encoded.charCodeAt(i))
  }
  return Buffer.from(bytes).toString('utf8')
}

import { describe, expect, it } from 'vitest'
import { CkptError } from '../src/errors.js'
import { checkRefName, checkStageName, isValidRefName } from '../src/refs/names.js'

/** Runs `check` and returns the CkptError it throws, failing the test if it does not throw one. */
function thrownBy(check: () => void): CkptError {
  try {
    check()
  } catch (err) {
    expect(err).toBeInstanceOf(CkptError)
    return err as CkptError
  }
  throw new Error('expected a CkptError, but nothing was thrown')
}

const LONE_HIGH_SURROGATE = '\ud800'
const LONE_LOW_SURROGATE = '\udc00'

describe('checkRefName', () => {
  it.each([
    'main',
    'feature/x',
    'v1.0',
    'run-2024.11',
    'a/b/c',
    'ünïcode',
    '日本/ブランチ',
    'emoji-😀',
    'a@b',
    '@a',
    'a.b.c',
    'x.lockfile',
    'lock/x.lock.d',
    'a'.repeat(255),
    'é'.repeat(127),
  ])('accepts %j', (name) => {
    expect(() => checkRefName(name)).not.toThrow()
    expect(isValidRefName(name)).toBe(true)
  })

  it.each([
    ['', 'empty'],
    [`a${LONE_HIGH_SURROGATE}`, 'not-well-formed'],
    [`${LONE_LOW_SURROGATE}b`, 'not-well-formed'],
    ['a'.repeat(256), 'too-long'],
    ['é'.repeat(128), 'too-long'],
    ['a\u0000b', 'control-char'],
    ['a\tb', 'control-char'],
    ['a\u001fb', 'control-char'],
    ['a\u007fb', 'control-char'],
    ['a b', 'forbidden-char'],
    ['a~1', 'forbidden-char'],
    ['a^', 'forbidden-char'],
    ['a:b', 'forbidden-char'],
    ['a?', 'forbidden-char'],
    ['a*', 'forbidden-char'],
    ['a[0]', 'forbidden-char'],
    ['a\\b', 'forbidden-char'],
    ['/a', 'empty-component'],
    ['a/', 'empty-component'],
    ['a//b', 'empty-component'],
    ['/', 'empty-component'],
    ['a..b', 'double-dot'],
    ['..', 'double-dot'],
    ['a/../b', 'double-dot'],
    ['.a', 'leading-dot'],
    ['a/.b', 'leading-dot'],
    ['.', 'leading-dot'],
    ['a.lock', 'lock-suffix'],
    ['a.lock/b', 'lock-suffix'],
    ['a/b.lock', 'lock-suffix'],
    ['a.', 'trailing-dot'],
    ['a/b.', 'trailing-dot'],
    ['a@{1}', 'at-brace'],
    ['@{', 'at-brace'],
    ['@', 'at-sign'],
  ])('rejects %j (%s)', (name, rule) => {
    const err = thrownBy(() => checkRefName(name))
    expect(err.code).toBe('INVALID_REF_NAME')
    expect(err.details).toEqual({ name, rule })
    expect(isValidRefName(name)).toBe(false)
  })

  it('rejects a value that is not a string', () => {
    const err = thrownBy(() => checkRefName(42 as unknown as string))
    expect(err.code).toBe('INVALID_REF_NAME')
    expect(err.details.rule).toBe('not-a-string')
  })
})

describe('checkStageName', () => {
  it.each([
    'detect',
    'detect:v2',
    'a:b:c',
    'two words',
    'v1.0',
    '...',
    '.hidden',
    'ünïcode',
    'emoji-😀',
    'x'.repeat(200),
    '😀'.repeat(200),
    'a~b^c*d?[e]',
  ])('accepts %j', (name) => {
    expect(() => checkStageName(name)).not.toThrow()
  })

  it.each([
    ['', 'empty'],
    [`a${LONE_HIGH_SURROGATE}`, 'not-well-formed'],
    [`${LONE_LOW_SURROGATE}`, 'not-well-formed'],
    ['x'.repeat(201), 'too-long'],
    ['😀'.repeat(201), 'too-long'],
    ['a\u0000b', 'control-char'],
    ['a\nb', 'control-char'],
    ['\tab', 'control-char'],
    ['a\u007fb', 'control-char'],
    ['a\u0080b', 'control-char'],
    ['a\u009fb', 'control-char'],
    ['a/b', 'separator'],
    ['a\\b', 'separator'],
    ['/', 'separator'],
    ['.', 'dot-name'],
    ['..', 'dot-name'],
    [' a', 'surrounding-whitespace'],
    ['a ', 'surrounding-whitespace'],
    [' ', 'surrounding-whitespace'],
    ['a\u00a0', 'surrounding-whitespace'],
    ['\u3000a', 'surrounding-whitespace'],
  ])('rejects %j (%s)', (name, rule) => {
    const err = thrownBy(() => checkStageName(name))
    expect(err.code).toBe('INVALID_ARGUMENT')
    expect(err.details).toEqual({ name, rule })
  })

  it('rejects a value that is not a string', () => {
    const err = thrownBy(() => checkStageName(undefined as unknown as string))
    expect(err.code).toBe('INVALID_ARGUMENT')
    expect(err.details.rule).toBe('not-a-string')
  })
})

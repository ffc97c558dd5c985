import type { CheckpointNode } from '../../model/checkpoint.js'

/*
 * How a checkpoint looks as a git commit (docs/sync.md): the names of its tree entries, the
 * pretty-printed JSON a person reads in `git diff`, the commit message and the author line.
 * None of it needs to be reversible: `import --git` finds objects by content, not by name.
 */

/** The folder of every mirror commit that holds what the visible files cannot give back. */
export const HIDDEN_FOLDER = '.ckpt'
/** In {@link HIDDEN_FOLDER}: the checkpoint node's canonical bytes. */
export const NODE_FILE = 'checkpoint'

// Names git treats as its own (fsck rejects them in trees, or they change how git reads the
// tree), compared as git does: case-folded, without trailing dots and spaces or an NTFS stream
// suffix, with the code points HFS+ ignores removed, and as NTFS 8.3 short names.
const GIT_OWNED = /^(\.git|git~\d+|\.gitmodules|gitmod~\d+|\.gitattributes|gitatt~\d+)$/
const HFS_IGNORED = /[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]/g

/** `name`, or `name~ckpt` when git would take it as one of its own files. */
export function gitSafeName(name: string): string {
  const folded = (name.split(':')[0] ?? '').replace(HFS_IGNORED, '').replace(/[. ]+$/, '').toLowerCase()
  return GIT_OWNED.test(folded) ? `${name}~ckpt` : name
}

/** Hands out distinct names within one git tree: a taken name gets `~2`, `~3`, … */
export class TreeNames {
  readonly #taken = new Set<string>()

  constructor(reserved: readonly string[] = []) {
    for (const name of reserved) this.#taken.add(name)
  }

  claim(wanted: string): string {
    const base = gitSafeName(wanted)
    let name = base
    for (let n = 2; this.#taken.has(name); n++) name = `${base}~${n}`
    this.#taken.add(name)
    return name
  }
}

const decoder = new TextDecoder('utf-8', { fatal: true })
const encoder = new TextEncoder()

/**
 * Canonical dag-json (no whitespace outside strings) indented two spaces a level, ending in a
 * newline. Only whitespace is added, so {@link compactJson} gives the canonical bytes back.
 */
export function prettyJson(canonical: Uint8Array): Uint8Array {
  let out = ''
  let depth = 0
  const newline = () => '\n' + '  '.repeat(depth)
  for (const { quoted, text } of jsonSegments(decoder.decode(canonical))) {
    if (quoted) {
      out += text
      continue
    }
    for (let i = 0; i < text.length; i++) {
      const c = text[i] as string
      if ((c === '{' && text[i + 1] === '}') || (c === '[' && text[i + 1] === ']')) {
        out += c + text[++i]
      } else if (c === '{' || c === '[') {
        depth++
        out += c + newline()
      } else if (c === '}' || c === ']') {
        depth--
        out += newline() + c
      } else {
        out += c === ',' ? ',' + newline() : c === ':' ? ': ' : c
      }
    }
  }
  return encoder.encode(out + '\n')
}

/** JSON text without the whitespace outside its strings; undefined when the bytes are not UTF-8. */
export function compactJson(pretty: Uint8Array): Uint8Array | undefined {
  let text: string
  try {
    text = decoder.decode(pretty)
  } catch {
    return undefined
  }
  let out = ''
  for (const segment of jsonSegments(text)) out += segment.quoted ? segment.text : segment.text.replace(/[ \n\r\t]+/g, '')
  return encoder.encode(out)
}

/** JSON text cut into its strings (quotes included) and the runs between them. */
function* jsonSegments(text: string): Iterable<{ quoted: boolean; text: string }> {
  let start = 0
  while (start < text.length) {
    const open = text.indexOf('"', start)
    if (open < 0) break
    if (open > start) yield { quoted: false, text: text.slice(start, open) }
    let close = open + 1
    while (close < text.length && text[close] !== '"') close += text[close] === '\\' ? 2 : 1
    yield { quoted: true, text: text.slice(open, close + 1) }
    start = close + 1
  }
  if (start < text.length) yield { quoted: false, text: text.slice(start) }
}

/** The commit message: the checkpoint's message (or its stage) then trailers naming stage, run, job and id. */
export function commitMessage(id: string, node: CheckpointNode): string {
  const message = node.message.replaceAll('\0', '\ufffd').trim()
  const subject = message !== '' ? message : node.stage !== undefined ? `stage ${oneLine(node.stage)}` : 'checkpoint'
  const trailers = [
    ...(node.stage !== undefined ? [`Stage: ${oneLine(node.stage)}`] : []),
    ...(node.run !== undefined ? [`Run: ${oneLine(node.run)}`] : []),
    ...(node.job !== undefined ? [`Job: ${oneLine(node.job)}`] : []),
    `Checkpoint: ${id}`,
  ]
  return `${subject}\n\n${trailers.join('\n')}\n`
}

/** A git author line for the checkpoint's author and time: `Name <email>` is kept, anything else has an empty email. */
export function gitIdent(author: string, time: number): { name: string; email: string; timestamp: number; timezoneOffset: number } {
  const match = /^(.*?)\s*<([^<>]*)>\s*$/.exec(author)
  const name = identPart(match ? (match[1] ?? '') : author)
  return {
    name: name === '' ? 'ckpt' : name,
    email: match ? identPart(match[2] ?? '') : '',
    timestamp: Math.max(0, Math.floor(time / 1000)),
    timezoneOffset: 0,
  }
}

function identPart(text: string): string {
  return text.replace(/[<>\u0000-\u001f]/g, '').trim()
}

function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f]+/g, ' ')
}

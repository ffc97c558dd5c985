/** Shows one output: JSON pretty-printed, text as text, images inline, a listing for folders. */
import { api } from '../api.js'
import { failure, h, replaceChildren } from '../dom.js'
import { bytes } from '../format.js'

const TEXT_LIMIT = 512 * 1024

export async function showOutput(target: HTMLElement, rev: string, stage: string): Promise<void> {
  replaceChildren(target, h('p', { class: 'loading' }, 'Loading…'))
  const url = api.outputUrl(rev, stage)
  try {
    const response = await fetch(url)
    if (!response.ok) throw new Error(`${stage}: ${response.status} ${response.statusText}`)
    const type = response.headers.get('Content-Type') ?? ''
    const size = Number(response.headers.get('Content-Length') ?? NaN)
    if (type.startsWith('image/')) {
      await response.body?.cancel()
      replaceChildren(target, h('img', { class: 'output-image', src: url, alt: `${stage} output` }))
    } else if (type.startsWith('application/json')) {
      const value = (await response.json()) as unknown
      if (isListing(value)) replaceChildren(target, listing(rev, stage, value.files))
      else replaceChildren(target, h('pre', { class: 'output-json' }, JSON.stringify(value, null, 2)))
    } else if (type.startsWith('text/') && !(size > TEXT_LIMIT)) {
      replaceChildren(target, h('pre', { class: 'output-text' }, await response.text()))
    } else {
      await response.body?.cancel()
      replaceChildren(target, h('p', null, `${type || 'bytes'}${Number.isFinite(size) ? `, ${bytes(size)}` : ''} `, h('a', { href: url, download: stage }, 'download')))
    }
  } catch (err) {
    replaceChildren(target, failure(err))
  }
}

interface Listing {
  files: Array<{ path: string; size: number }>
}

function isListing(value: unknown): value is Listing {
  return typeof value === 'object' && value !== null && Array.isArray((value as Listing).files) && Object.keys(value).length === 1
}

function listing(rev: string, stage: string, files: Listing['files']): HTMLElement {
  return h(
    'table',
    { class: 'listing' },
    h('thead', null, h('tr', null, h('th', null, 'file'), h('th', null, 'size'))),
    h('tbody', null, ...files.map((f) => h('tr', null, h('td', null, h('a', { href: api.fileUrl(rev, stage, f.path) }, f.path)), h('td', { class: 'num' }, bytes(f.size))))),
  )
}

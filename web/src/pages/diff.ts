/** `#/diff/A/B`: two checkpoints compared stage by stage, as `ckpt diff A B` shows it. */
import { api, type DiffResult, type JsonChange, type StageDiff } from '../api.js'
import { failure, h, replaceChildren } from '../dom.js'
import { brief, bytes } from '../format.js'

/** A form to choose two revisions: timelines and tags are offered, any id or `main~2` works. */
function picker(from: string, to: string): HTMLFormElement {
  const options = h('datalist', { id: 'revisions' })
  void api.graph().then((graph) => {
    for (const t of graph.timelines) options.append(h('option', { value: t.name }))
    for (const t of graph.tags) options.append(h('option', { value: t.name }))
    for (const c of graph.checkpoints.slice(0, 100)) options.append(h('option', { value: c.id }, `${c.shortId} ${c.stage ?? ''}`))
  }, () => undefined)
  const fromInput = h('input', { name: 'from', value: from, list: 'revisions', required: true, placeholder: 'from (e.g. main)', 'aria-label': 'from revision' })
  const toInput = h('input', { name: 'to', value: to, list: 'revisions', required: true, placeholder: 'to (e.g. strict-ocr)', 'aria-label': 'to revision' })
  const form = h('form', { class: 'diff-picker' }, fromInput, h('span', null, '→'), toInput, h('button', { type: 'submit' }, 'Compare'), options)
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    location.hash = `#/diff/${encodeURIComponent(fromInput.value.trim())}/${encodeURIComponent(toInput.value.trim())}`
  })
  return form
}

function jsonChanges(changes: readonly JsonChange[]): HTMLElement {
  return h(
    'table',
    { class: 'json-changes' },
    h('thead', null, h('tr', null, h('th', null, 'path'), h('th', null, 'old'), h('th', null, ''), h('th', null, 'new'))),
    h(
      'tbody',
      null,
      ...changes.map((c) =>
        h(
          'tr',
          { class: `op-${c.op}` },
          h('td', null, h('code', null, c.path || '/')),
          h('td', { class: 'old' }, c.op === 'add' ? '' : brief(c.oldValue)),
          h('td', null, '→'),
          h('td', { class: 'new' }, c.op === 'remove' ? '' : brief(c.value)),
        ),
      ),
    ),
  )
}

function textHunks(stage: StageDiff): HTMLElement {
  const pre = h('pre', { class: 'hunks' })
  for (const hunk of stage.hunks ?? []) {
    pre.append(h('span', { class: 'hunk-head' }, `@@ -${hunk.fromStart},${hunk.fromLines} +${hunk.toStart},${hunk.toLines} @@\n`))
    for (const line of hunk.lines) pre.append(h('span', { class: line.startsWith('+') ? 'add' : line.startsWith('-') ? 'del' : 'ctx' }, `${line}\n`))
  }
  return pre
}

/** Two bytes outputs: side by side when both are images, their sizes otherwise. */
function bytesSides(stage: StageDiff): HTMLElement {
  const sizes = h('p', { class: 'sizes' }, stage.size ? `${bytes(stage.size.from)} → ${bytes(stage.size.to)}` : '')
  const box = h('div', null, sizes)
  if (stage.from && stage.to) {
    const [from, to] = [stage.from, stage.to]
    void Promise.all([from, to].map((id) => fetch(api.blobUrl(id), { method: 'HEAD' }).then((r) => r.headers.get('Content-Type') ?? ''))).then(([a, b]) => {
      if (!a?.startsWith('image/') || !b?.startsWith('image/')) return
      box.append(
        h(
          'div',
          { class: 'side-by-side' },
          h('figure', null, h('img', { src: api.blobUrl(from), alt: `${stage.stage} before` }), h('figcaption', null, 'before')),
          h('figure', null, h('img', { src: api.blobUrl(to), alt: `${stage.stage} after` }), h('figcaption', null, 'after')),
        ),
      )
    }, () => undefined)
  }
  return box
}

function stageSection(stage: StageDiff): HTMLElement {
  const body: Array<HTMLElement | null> = []
  if (stage.status === 'changed') {
    if (stage.changes?.length) body.push(jsonChanges(stage.changes))
    if (stage.hunks?.length) body.push(textHunks(stage))
    if (stage.kind === 'bytes' && !stage.hunks?.length) body.push(bytesSides(stage))
  }
  return h(
    'section',
    { class: `stage-diff status-${stage.status}`, 'data-stage': stage.stage },
    h('h3', null, h('span', { class: `status ${stage.status}` }, stage.status), ' ', stage.stage, stage.kind ? h('span', { class: 'muted' }, ` (${stage.kind})`) : null),
    ...body,
  )
}

function result(diff: DiffResult): HTMLElement {
  const { summary } = diff
  const changed = diff.stages.filter((s) => s.status !== 'unchanged')
  const unchanged = diff.stages.filter((s) => s.status === 'unchanged')
  return h(
    'div',
    { class: 'diff-result' },
    h(
      'p',
      { class: 'summary' },
      h('a', { href: `#/checkpoint/${encodeURIComponent(diff.from)}` }, h('code', null, diff.from.slice(-12))),
      ' → ',
      h('a', { href: `#/checkpoint/${encodeURIComponent(diff.to)}` }, h('code', null, diff.to.slice(-12))),
      `: ${summary.changed} changed, ${summary.added} added, ${summary.removed} removed, ${summary.unchanged} unchanged`,
    ),
    ...changed.map(stageSection),
    unchanged.length ? h('p', { class: 'muted' }, `unchanged: ${unchanged.map((s) => s.stage).join(', ')}`) : null,
  )
}

export function diffPage(root: HTMLElement, from = '', to = ''): () => void {
  const body = h('div', { id: 'diff-body' })
  replaceChildren(root, h('h1', null, 'Diff'), picker(from, to), body)
  let stopped = false
  if (from && to) {
    replaceChildren(body, h('p', { class: 'loading' }, 'Comparing…'))
    api.diff(from, to).then(
      (diff) => !stopped && replaceChildren(body, result(diff)),
      (err: unknown) => !stopped && replaceChildren(body, failure(err)),
    )
  } else {
    replaceChildren(body, h('p', { class: 'muted' }, 'Pick two revisions: timeline names, tags, checkpoint ids or expressions such as main~1.'))
  }
  return () => {
    stopped = true
  }
}

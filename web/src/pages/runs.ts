/** `#/runs` (or `#/runs/RUN` opened): every run, each with its audit on demand. */
import { api, type AuditEntry, type Run } from '../api.js'
import { onEvent } from '../events.js'
import { failure, h, replaceChildren } from '../dom.js'
import { duration, time } from '../format.js'

function auditTable(entries: readonly AuditEntry[]): HTMLElement {
  if (entries.length === 0) return h('p', { class: 'muted' }, 'No stage has run yet.')
  return h(
    'table',
    { class: 'audit' },
    h('thead', null, h('tr', null, h('th', null, 'stage'), h('th', null, 'status'), h('th', { class: 'num' }, 'attempt'), h('th', null, 'started'), h('th', { class: 'num' }, 'took'), h('th', null, 'checkpoint'), h('th', null, 'error'))),
    h(
      'tbody',
      null,
      ...entries.map((e) =>
        h(
          'tr',
          { class: `status-${e.status}` },
          h('td', null, e.stage),
          h('td', null, h('span', { class: `status ${e.status}` }, e.status)),
          h('td', { class: 'num' }, e.attempt ?? ''),
          h('td', null, time(e.start)),
          h('td', { class: 'num' }, duration(e.durationMs)),
          h('td', null, e.checkpoint ? h('a', { href: `#/checkpoint/${encodeURIComponent(e.checkpoint)}` }, h('code', null, e.checkpoint.slice(-12))) : ''),
          h('td', { class: 'error-text' }, e.error?.message ?? ''),
        ),
      ),
    ),
  )
}

function counts(stages: Run['stages']): string {
  if (!stages) return ''
  return Object.entries(stages)
    .filter(([, n]) => n > 0)
    .map(([status, n]) => `${n} ${status}`)
    .join(', ')
}

function runItem(run: Run, open: boolean): HTMLElement {
  const audit = h('div', { class: 'audit-body' }, h('p', { class: 'loading' }, 'Loading the audit…'))
  const took = run.finished ? duration(Date.parse(run.finished) - Date.parse(run.started)) : ''
  const details = h(
    'details',
    { class: 'run', 'data-run': run.runId, open },
    h(
      'summary',
      null,
      h('span', { class: `status ${run.status}` }, run.status),
      h('code', null, run.runId),
      h('span', null, run.pipeline),
      run.timeline ? h('a', { href: '#/', class: 'label timeline' }, run.timeline) : null,
      run.jobId ? h('span', { class: 'muted' }, `job ${run.jobId}`) : null,
      h('span', { class: 'muted' }, `${time(run.started)}${took ? ` · ${took}` : ''}`),
      h('span', { class: 'muted' }, counts(run.stages)),
    ),
    audit,
  )
  let loaded = false
  const load = () => {
    if (loaded || !details.open) return
    loaded = true
    api.audit(run.runId).then(
      (entries) => replaceChildren(audit, auditTable(entries)),
      (err: unknown) => replaceChildren(audit, failure(err)),
    )
  }
  details.addEventListener('toggle', load)
  if (open) queueMicrotask(load)
  return details
}

export function runsPage(root: HTMLElement, openRun?: string): () => void {
  const list = h('div', { class: 'runs' }, h('p', { class: 'loading' }, 'Loading…'))
  replaceChildren(root, h('h1', null, 'Runs'), list)
  let stopped = false
  const refresh = () =>
    api.runs().then(
      (runs) => {
        if (stopped) return
        const opened = new Set([...list.querySelectorAll<HTMLDetailsElement>('details[open]')].map((d) => d.dataset.run))
        if (openRun) opened.add(openRun)
        replaceChildren(list, runs.length ? null : h('p', { class: 'empty' }, 'No runs are recorded in this store.'), ...runs.map((r) => runItem(r, opened.has(r.runId))))
      },
      (err: unknown) => !stopped && replaceChildren(list, failure(err)),
    )
  const stop = onEvent('run', (data) => {
    if ((data as { type?: string }).type === 'run-status') void refresh()
  })
  void refresh()
  return () => {
    stopped = true
    stop()
  }
}

/** `#/checkpoint/ID`: what a checkpoint holds and who made it, as `ckpt show` prints it. */
import { api } from '../api.js'
import { facts, failure, h, replaceChildren } from '../dom.js'
import { bytes, time } from '../format.js'
import { showOutput } from './output.js'

export function checkpointPage(root: HTMLElement, rev: string): () => void {
  replaceChildren(root, h('h1', null, 'Checkpoint'), h('p', { class: 'loading' }, 'Loading…'))
  let stopped = false
  void (async () => {
    try {
      const c = await api.checkpoint(rev)
      if (stopped) return
      const parent = c.parents[0]
      const runLink = c.run ? h('a', { href: `#/runs/${encodeURIComponent(c.run)}` }, c.run) : null
      const viewer = h('section', { class: 'viewer', id: 'output-viewer' })
      const stages = h(
        'table',
        { class: 'stages' },
        h('thead', null, h('tr', null, h('th', null, 'stage'), h('th', null, 'kind'), h('th', { class: 'num' }, 'size'), h('th', null, 'id'), h('th', null, 'changed'), h('th', null, ''))),
        h(
          'tbody',
          null,
          ...c.stageOutputs.map((o) => {
            const view = h('button', { type: 'button', class: 'link', 'data-stage': o.stage }, 'view')
            view.addEventListener('click', () => {
              replaceChildren(viewer, h('h2', null, `Output of ${o.stage}`))
              const content = h('div')
              viewer.append(content)
              void showOutput(content, c.id, o.stage)
            })
            return h(
              'tr',
              { class: o.stage === c.stage ? 'producer' : undefined },
              h('td', null, o.stage, o.stage === c.stage ? h('span', { class: 'badge', title: 'the stage that produced this checkpoint' }, 'produced') : null),
              h('td', null, o.kind),
              h('td', { class: 'num' }, bytes(o.size), o.files !== undefined ? ` (${o.files} files)` : ''),
              h('td', null, h('code', { title: o.id }, o.id.slice(-12))),
              h('td', null, o.changed ? h('span', { class: 'changed', title: 'differs from the parent' }, '● changed') : ''),
              h('td', null, view),
            )
          }),
        ),
      )
      replaceChildren(
        root,
        h('h1', null, 'Checkpoint ', h('code', null, c.shortId)),
        h(
          'p',
          { class: 'actions' },
          parent ? h('a', { href: `#/diff/${encodeURIComponent(parent)}/${encodeURIComponent(c.id)}`, id: 'diff-parent' }, 'diff with parent') : h('span', { class: 'muted' }, 'no parent (first checkpoint)'),
        ),
        facts([
          ['id', h('code', null, c.id)],
          ['stage', c.stage],
          ['run', runLink],
          ['job', c.job],
          ['message', c.message],
          ['author', c.author],
          ['time', h('time', { datetime: c.time }, time(c.time))],
          ['parents', c.parents.length ? h('span', null, ...c.parents.map((p) => h('a', { href: `#/checkpoint/${encodeURIComponent(p)}`, class: 'parent' }, h('code', null, p.slice(-12))))) : null],
          ['config', c.config !== undefined && c.config !== null && Object.keys(c.config as object).length > 0 ? h('pre', { class: 'config' }, JSON.stringify(c.config, null, 2)) : null],
        ]),
        h('h2', null, 'Stages'),
        stages,
        viewer,
      )
    } catch (err) {
      if (!stopped) replaceChildren(root, h('h1', null, 'Checkpoint'), failure(err))
    }
  })()
  return () => {
    stopped = true
  }
}

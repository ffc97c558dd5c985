/** `#/`: every timeline and tag with their history, as `ckpt log --graph --all` shows it; live. */
import { api, type Graph } from '../api.js'
import { onEvent } from '../events.js'
import { drawGraph, layout, LANE_WIDTH, ROW_HEIGHT } from '../graph.js'
import { failure, h, replaceChildren } from '../dom.js'
import { time } from '../format.js'

/** Labels per checkpoint: HEAD, its timelines, its tags. */
function labelsOf(graph: Graph): Map<string, HTMLElement[]> {
  const labels = new Map<string, HTMLElement[]>()
  const add = (id: string | null, label: HTMLElement) => {
    if (!id) return
    labels.set(id, [...(labels.get(id) ?? []), label])
  }
  const { head } = graph
  if (head.detached) add(head.checkpoint, h('span', { class: 'label head' }, 'HEAD'))
  for (const t of graph.timelines) {
    const current = !head.detached && head.timeline === t.name
    add(t.head, h('span', { class: `label timeline${current ? ' current' : ''}`, 'data-timeline': t.name, title: current ? 'HEAD is on this timeline' : 'timeline' }, current ? `HEAD → ${t.name}` : t.name))
  }
  for (const t of graph.tags) add(t.target, h('span', { class: 'label tag', 'data-tag': t.name, title: 'tag' }, `tag: ${t.name}`))
  return labels
}

function render(root: HTMLElement, graph: Graph, fresh: ReadonlySet<string>): void {
  if (graph.checkpoints.length === 0) {
    replaceChildren(root, h('p', { class: 'empty' }, 'This store has no checkpoints yet.'))
    return
  }
  const placed = layout(graph.checkpoints)
  const labels = labelsOf(graph)
  const rows = h('ol', { class: 'graph-rows', style: undefined })
  for (const { checkpoint: c } of placed.rows) {
    rows.append(
      h(
        'li',
        { class: fresh.has(c.id) ? 'fresh' : undefined },
        h(
          'a',
          { href: `#/checkpoint/${encodeURIComponent(c.id)}`, class: 'graph-row', 'data-id': c.id },
          h('code', { class: 'short' }, c.shortId),
          h('span', { class: 'what' }, h('span', { class: 'labels' }, ...(labels.get(c.id) ?? [])), h('span', { class: 'stage' }, c.stage ?? '')),
          h('span', { class: 'message' }, c.message || (c.run ? `run ${c.run}` : '')),
          h('time', { datetime: c.time }, time(c.time)),
        ),
      ),
    )
  }
  const board = h('div', { class: 'graph' }, drawGraph(placed, fresh), rows)
  board.style.setProperty('--row-height', `${ROW_HEIGHT}px`)
  board.style.setProperty('--graph-width', `${placed.lanes * LANE_WIDTH + 12}px`)
  replaceChildren(
    root,
    h('p', { class: 'summary' }, `${graph.timelines.length} timeline(s), ${graph.tags.length} tag(s), ${graph.checkpoints.length} checkpoint(s)${graph.truncated ? ' (newest shown)' : ''}`),
    board,
  )
}

export function graphPage(root: HTMLElement): () => void {
  replaceChildren(root, h('h1', null, 'History'), h('div', { id: 'graph-body' }, h('p', { class: 'loading' }, 'Loading…')))
  const body = root.querySelector<HTMLElement>('#graph-body')!
  let known: Set<string> | undefined
  // What arrived while the page was open stays highlighted.
  const fresh = new Set<string>()
  let pending: number | undefined
  let stopped = false

  const refresh = async () => {
    try {
      const graph = await api.graph()
      if (stopped) return
      if (known) for (const c of graph.checkpoints) if (!known.has(c.id)) fresh.add(c.id)
      known = new Set(graph.checkpoints.map((c) => c.id))
      render(body, graph, fresh)
    } catch (err) {
      if (!stopped) replaceChildren(body, failure(err))
    }
  }
  // Several events arrive together when a run writes; redraw once for all of them.
  const soon = () => {
    if (pending !== undefined) return
    pending = window.setTimeout(() => {
      pending = undefined
      void refresh()
    }, 150)
  }
  const unsubscribe = [onEvent('checkpoint', soon), onEvent('ref', soon)]
  void refresh()
  return () => {
    stopped = true
    if (pending !== undefined) window.clearTimeout(pending)
    for (const stop of unsubscribe) stop()
  }
}

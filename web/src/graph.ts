/**
 * Lays out history the way `ckpt log --graph` does: newest first, one lane per line of history.
 * Each checkpoint takes the lane that was waiting for it (or a new one); its first parent then
 * continues that lane and other parents get lanes of their own unless one already waits for them.
 */
import type { Checkpoint } from './api.js'
import { svg } from './dom.js'

export interface Placed {
  readonly checkpoint: Checkpoint
  readonly row: number
  readonly lane: number
}

export interface Layout {
  readonly rows: Placed[]
  readonly lanes: number
}

function freeLane(lanes: Array<string | null>): number {
  const free = lanes.indexOf(null)
  if (free >= 0) return free
  lanes.push(null)
  return lanes.length - 1
}

export function layout(checkpoints: readonly Checkpoint[]): Layout {
  const shown = new Set(checkpoints.map((c) => c.id))
  const lanes: Array<string | null> = []
  const rows: Placed[] = []
  let width = 0
  checkpoints.forEach((checkpoint, row) => {
    let lane = lanes.indexOf(checkpoint.id)
    if (lane < 0) lane = freeLane(lanes)
    // Lines that converge here (a checkpoint with several children) end at this row.
    for (let i = 0; i < lanes.length; i++) if (lanes[i] === checkpoint.id) lanes[i] = null
    const parents = checkpoint.parents.filter((p) => shown.has(p))
    const [first, ...others] = parents
    if (first !== undefined && !lanes.includes(first)) lanes[lane] = first
    for (const parent of others) if (!lanes.includes(parent)) lanes[freeLane(lanes)] = parent
    while (lanes.length > 0 && lanes[lanes.length - 1] === null) lanes.pop()
    rows.push({ checkpoint, row, lane })
    width = Math.max(width, lane + 1, lanes.length)
  })
  return { rows, lanes: width }
}

export const ROW_HEIGHT = 30
export const LANE_WIDTH = 18
const PALETTE = ['#2f6fde', '#d9480f', '#2b8a3e', '#9c36b5', '#c2255c', '#0b7285', '#e67700', '#5c940d']

export const laneColor = (lane: number) => PALETTE[lane % PALETTE.length] ?? '#555'
const x = (lane: number) => LANE_WIDTH / 2 + lane * LANE_WIDTH + 4
const y = (row: number) => ROW_HEIGHT / 2 + row * ROW_HEIGHT

/** The dots and parent edges of a layout, one SVG as tall as its rows. */
export function drawGraph(placed: Layout, highlight: ReadonlySet<string> = new Set()): SVGSVGElement {
  const byId = new Map(placed.rows.map((p) => [p.checkpoint.id, p]))
  const width = placed.lanes * LANE_WIDTH + 8
  const height = placed.rows.length * ROW_HEIGHT
  const edges = svg('g', { class: 'edges', fill: 'none', 'stroke-width': 2 })
  const dots = svg('g', { class: 'dots' })
  for (const child of placed.rows) {
    for (const parentId of child.checkpoint.parents) {
      const parent = byId.get(parentId)
      if (!parent) continue
      const [x1, y1, x2, y2] = [x(child.lane), y(child.row), x(parent.lane), y(parent.row)]
      let d: string
      if (x1 === x2) d = `M${x1} ${y1}V${y2}`
      // A line branching off to the right leaves at once; one merging back to the left goes down first.
      else if (x2 > x1) d = `M${x1} ${y1}C${x1} ${y1 + ROW_HEIGHT / 2} ${x2} ${y1 + ROW_HEIGHT / 2} ${x2} ${y1 + ROW_HEIGHT}V${y2}`
      else d = `M${x1} ${y1}V${y2 - ROW_HEIGHT}C${x1} ${y2 - ROW_HEIGHT / 2} ${x2} ${y2 - ROW_HEIGHT / 2} ${x2} ${y2}`
      edges.append(svg('path', { d, stroke: laneColor(x2 > x1 ? parent.lane : child.lane) }))
    }
    const fresh = highlight.has(child.checkpoint.id)
    dots.append(
      svg(
        'circle',
        { cx: x(child.lane), cy: y(child.row), r: fresh ? 6 : 5, fill: laneColor(child.lane), stroke: fresh ? '#111' : '#fff', 'stroke-width': 2, 'data-id': child.checkpoint.id },
        svg('title', null, child.checkpoint.shortId),
      ),
    )
  }
  return svg('svg', { class: 'graph-svg', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'history graph' }, edges, dots)
}

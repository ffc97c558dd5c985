/**
 * `#/replay`: a replay form generated from the served pipelines' stage config fields. Submitting
 * starts the replay and follows it live on /api/events until the server answers.
 */
import { api, type ConfigOverrides, type PipelineInfo, type RunReport } from '../api.js'
import { onEvent } from '../events.js'
import { failure, h, replaceChildren } from '../dom.js'
import { fieldInput, fieldRow, sameValue, type FieldInput } from './config-fields.js'

const TOKEN_KEY = 'ckpt-token'

const suggestTimeline = (stage: string) => {
  const now = new Date()
  const pad = (n: number) => String(n).padStart(2, '0')
  return `replay-${stage}-${pad(now.getHours())}${pad(now.getMinutes())}${pad(now.getSeconds())}`
}

interface RunEvent {
  type: string
  runId: string
  timeline?: string
  stage?: string
  error?: string
  status?: string
  attempt?: number
  checkpoint?: string
}

function describe(event: RunEvent): string {
  switch (event.type) {
    case 'run-started':
      return `run ${event.runId} started on ${event.timeline ?? ''}`
    case 'stage-started':
      return `${event.stage}: running`
    case 'stage-finished':
      return `${event.stage}: done`
    case 'stage-reused':
      return `${event.stage}: reused`
    case 'stage-skipped':
      return `${event.stage}: skipped`
    case 'stage-failed':
      return `${event.stage}: failed: ${event.error ?? ''}`
    case 'stage-retrying':
      return `${event.stage}: attempt ${event.attempt ?? '?'} failed (${event.error ?? ''}), retrying`
    case 'checkpoint-written':
      return `${event.stage}: checkpoint ${(event.checkpoint ?? '').slice(-12)}`
    case 'run-finished':
      return `run ${event.status ?? ''}`
    default:
      return event.type
  }
}

function form(pipelines: PipelineInfo[]): { element: HTMLElement; stop: () => void } {
  let pipeline = pipelines[0]!
  const pipelineSelect = h('select', { id: 'replay-pipeline', name: 'pipeline' }, ...pipelines.map((p) => h('option', { value: p.name }, p.name)))
  const stageSelect = h('select', { id: 'replay-stage', name: 'stage' })
  const from = h('input', { id: 'replay-from', name: 'from', value: 'HEAD', required: true, list: 'replay-revisions' })
  const revisions = h('datalist', { id: 'replay-revisions' })
  const timeline = h('input', { id: 'replay-timeline', name: 'timeline', required: true })
  const token = h('input', { id: 'replay-token', type: 'password', autocomplete: 'off', value: sessionStorage.getItem(TOKEN_KEY) ?? '', placeholder: 'only if the server has one' })
  const fields = h('div', { class: 'config-fields' })
  const submit = h('button', { type: 'submit', id: 'replay-submit' }, 'Replay')
  const progress = h('ol', { class: 'progress', id: 'replay-progress' })
  const outcome = h('div', { id: 'replay-outcome' })
  let inputs: Array<{ stage: string; input: FieldInput }> = []
  let timelineEdited = false

  void api.graph().then((graph) => {
    for (const t of graph.timelines) revisions.append(h('option', { value: t.name }))
    for (const t of graph.tags) revisions.append(h('option', { value: t.name }))
  }, () => undefined)

  const drawStages = () => {
    replaceChildren(stageSelect, ...pipeline.stages.map((s) => h('option', { value: s.name }, s.label ? `${s.label} (${s.name})` : s.name)))
    drawFields()
  }
  // Stages before the start stage keep their outputs, so only the rest can be configured.
  const drawFields = () => {
    const start = pipeline.stages.findIndex((s) => s.name === stageSelect.value)
    inputs = []
    replaceChildren(fields)
    pipeline.stages.forEach((stage, index) => {
      if (stage.config.length === 0) return
      const rerun = index >= start
      const rows = stage.config.map((field) => {
        const input = fieldInput(stage.name, field)
        if (rerun) inputs.push({ stage: stage.name, input })
        return fieldRow(stage.name, input)
      })
      fields.append(h('fieldset', { disabled: !rerun, 'data-stage': stage.name }, h('legend', null, stage.label ?? stage.name, rerun ? '' : ' (kept from the source)'), stage.description ? h('p', { class: 'hint' }, stage.description) : null, ...rows))
    })
    if (!timelineEdited) timeline.value = suggestTimeline(stageSelect.value)
  }
  pipelineSelect.addEventListener('change', () => {
    pipeline = pipelines.find((p) => p.name === pipelineSelect.value) ?? pipeline
    drawStages()
  })
  stageSelect.addEventListener('change', drawFields)
  timeline.addEventListener('input', () => (timelineEdited = true))
  token.addEventListener('change', () => (token.value ? sessionStorage.setItem(TOKEN_KEY, token.value) : sessionStorage.removeItem(TOKEN_KEY)))
  drawStages()

  let stopFollowing: Array<() => void> = []
  const stop = () => {
    for (const s of stopFollowing) s()
    stopFollowing = []
  }

  /** Follows the run on the timeline being replayed onto: its run events, checkpoints and ref moves. */
  const follow = (name: string) => {
    let runId: string | undefined
    const line = (text: string, kind = '') => progress.append(h('li', { class: kind }, text))
    stopFollowing.push(
      onEvent('run', (data) => {
        const event = data as RunEvent
        if (runId === undefined && event.type === 'run-started' && event.timeline === name) runId = event.runId
        // run-status repeats run-finished, as the store records it.
        if (runId !== undefined && event.runId === runId && event.type !== 'run-status') line(describe(event), event.type)
      }),
      onEvent('ref', (data) => {
        const { ref, to } = data as { ref: string; to: string | null }
        if (ref === `timelines/${name}` && to) line(`timeline ${name} → ${to.slice(-12)}`, 'ref')
      }),
    )
  }

  const element = h(
    'form',
    { class: 'replay-form', id: 'replay-form' },
    h(
      'div',
      { class: 'field-grid' },
      pipelines.length > 1 ? h('label', { for: 'replay-pipeline' }, 'pipeline') : null,
      pipelines.length > 1 ? pipelineSelect : null,
      h('label', { for: 'replay-stage' }, 'start at stage'),
      stageSelect,
      h('label', { for: 'replay-from' }, 'source checkpoint'),
      from,
      h('label', { for: 'replay-timeline' }, 'new timeline'),
      timeline,
      h('label', { for: 'replay-token' }, 'token'),
      token,
    ),
    revisions,
    h('h2', null, 'Config'),
    h('p', { class: 'hint' }, 'Fields you change are sent as overrides; the others keep their defaults.'),
    fields,
    h('p', null, submit),
    h('h2', null, 'Progress'),
    progress,
    outcome,
  )
  element.addEventListener('submit', (event) => {
    event.preventDefault()
    const config: ConfigOverrides = {}
    for (const { stage, input } of inputs) {
      const value = input.value()
      if (sameValue(value, input.field.default)) continue
      ;(config[stage] ??= {})[input.field.name] = value
    }
    const name = timeline.value.trim()
    stop()
    replaceChildren(progress)
    replaceChildren(outcome)
    follow(name)
    submit.disabled = true
    api
      .replay(pipeline.name, { stage: stageSelect.value, from: from.value.trim(), timeline: name, ...(Object.keys(config).length > 0 && { config }) }, token.value || null)
      .then(
        (report) => replaceChildren(outcome, summary(report, from.value.trim())),
        (err: unknown) => replaceChildren(outcome, failure(err)),
      )
      .finally(() => {
        submit.disabled = false
        timelineEdited = false
        timeline.value = suggestTimeline(stageSelect.value)
      })
  })
  return { element, stop }
}

function summary(report: RunReport, from: string): HTMLElement {
  const { counts } = report
  return h(
    'div',
    { class: `outcome status-${report.status}`, 'data-status': report.status },
    h('p', null, h('span', { class: `status ${report.status}` }, report.status), ` run ${report.runId} on timeline ${report.timeline}: ${counts.executed} executed, ${counts.reused} reused, ${counts.failed} failed.`),
    h(
      'p',
      null,
      h('a', { href: '#/' }, 'see it in the graph'),
      ' · ',
      h('a', { href: `#/diff/${encodeURIComponent(from)}/${encodeURIComponent(report.timeline)}` }, `diff ${from} → ${report.timeline}`),
      ' · ',
      h('a', { href: `#/runs/${encodeURIComponent(report.runId)}` }, 'audit'),
    ),
    ...report.stages.filter((s) => s.error).map((s) => h('p', { class: 'error' }, `${s.stage}: ${s.error}`)),
  )
}

export function replayPage(root: HTMLElement): () => void {
  replaceChildren(root, h('h1', null, 'Replay'), h('p', { class: 'loading' }, 'Loading…'))
  let stopped = false
  let stopForm = () => {}
  api.pipelines().then(
    (pipelines) => {
      if (stopped) return
      if (pipelines.length === 0) {
        replaceChildren(root, h('h1', null, 'Replay'), h('p', { class: 'empty' }, 'This server runs no pipeline: start it with ckpt serve --pipeline FILE.'))
        return
      }
      const built = form(pipelines)
      stopForm = built.stop
      replaceChildren(root, h('h1', null, 'Replay'), built.element)
    },
    (err: unknown) => !stopped && replaceChildren(root, h('h1', null, 'Replay'), failure(err)),
  )
  return () => {
    stopped = true
    stopForm()
  }
}

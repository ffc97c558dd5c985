import type { PipelineEvent } from './types.js'

/**
 * Runs `start` (run, resume or replay with the given `onEvent`) and exposes its events as an async
 * iterator, which ends when the run does; `result` settles with the run.
 *
 *   const { events, result } = eventStream((onEvent) => run({ ...options, onEvent }))
 *   for await (const event of events) render(event)
 */
export function eventStream<T>(start: (onEvent: (event: PipelineEvent) => void) => Promise<T>): { events: AsyncIterable<PipelineEvent>; result: Promise<T> } {
  const queue: PipelineEvent[] = []
  let wake: (() => void) | undefined
  let done = false
  const result = start((event) => {
    queue.push(event)
    wake?.()
  }).finally(() => {
    done = true
    wake?.()
  })
  result.catch(() => undefined) // the caller observes it through `result`
  const events = (async function* () {
    for (;;) {
      while (queue.length > 0) yield queue.shift() as PipelineEvent
      if (done) return
      await new Promise<void>((resolve) => (wake = resolve))
      wake = undefined
    }
  })()
  return { events, result }
}

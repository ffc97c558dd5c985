/** One EventSource on /api/events for the whole view; pages subscribe while they are shown. */

export type EventType = 'checkpoint' | 'ref' | 'run' | 'task'
type Listener = (data: unknown) => void

const listeners = new Map<EventType, Set<Listener>>()
let source: EventSource | undefined

function showState(text: string, live: boolean): void {
  const badge = document.getElementById('live')
  if (!badge) return
  badge.textContent = text
  badge.classList.toggle('on', live)
}

/** Opens the stream (once); the browser reconnects by itself after the server's `retry`. */
export function connectEvents(): void {
  if (source) return
  source = new EventSource('/api/events')
  source.addEventListener('open', () => showState('live', true))
  source.addEventListener('error', () => showState('reconnecting…', false))
  for (const type of ['checkpoint', 'ref', 'run', 'task'] as const) {
    source.addEventListener(type, (event) => {
      let data: unknown
      try {
        data = JSON.parse((event as MessageEvent<string>).data)
      } catch {
        return
      }
      for (const listener of listeners.get(type) ?? []) listener(data)
    })
  }
}

/** Calls `listener` with each event of `type`; returns how to stop. */
export function onEvent(type: EventType, listener: Listener): () => void {
  let set = listeners.get(type)
  if (!set) listeners.set(type, (set = new Set()))
  set.add(listener)
  return () => set.delete(listener)
}

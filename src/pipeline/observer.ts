import { CkptError } from '../errors.js'
import type { PipelineEvent } from './types.js'

/**
 * Delivers a run's events to its `onEvent` handler so that watching a run can never break it:
 * a handler that throws, or whose promise rejects, is reported (an `observer-error` event to the
 * same handler, and `errors`), and the run goes on. Under `strict`, the first failure is kept in
 * `fatal` for the run to end on at its next step.
 */
export class RunObserver {
  readonly errors: string[] = []
  #fatal: CkptError | undefined
  readonly #pending = new Set<Promise<void>>()

  constructor(
    private readonly runId: string,
    private readonly handler: ((event: PipelineEvent) => void | Promise<void>) | undefined,
    private readonly strict: boolean,
  ) {}

  emit(event: PipelineEvent): void {
    if (!this.handler) return
    try {
      const returned = this.handler(event)
      if (returned instanceof Promise) {
        const settled = returned.then(
          () => undefined,
          (err: unknown) => this.#failed(event, err),
        )
        this.#pending.add(settled)
        void settled.finally(() => this.#pending.delete(settled))
      }
    } catch (err) {
      this.#failed(event, err)
    }
  }

  /** The failure a strict run ends on, once there is one. */
  get fatal(): CkptError | undefined {
    return this.#fatal
  }

  /** Waits for handlers still running (async ones), so that their failures are counted. */
  async settle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending])
  }

  #failed(event: PipelineEvent, err: unknown): void {
    const message = err instanceof Error ? err.message : String(err)
    this.errors.push(`onEvent failed on ${event.type}: ${message}`)
    if (this.strict) this.#fatal ??= new CkptError('RUN_FAILED', `the run's event handler failed on ${event.type}: ${message}`, { cause: err })
    if (event.type === 'observer-error') return
    this.emit({ type: 'observer-error', runId: this.runId, event: event.type, error: message })
  }
}

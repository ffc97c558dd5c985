import type { GenericFormatter, Options, Params, SingleBar } from 'cli-progress'
import { humanSize } from './output.js'

type CliProgress = typeof import('cli-progress')

/** What a bar counts: bytes (shown as sizes, with a rate) or things (objects, commits, blocks). */
export type Units = 'bytes' | 'items'

/** Updates handed to the bar at most this often: its ETA is worked out over its last updates. */
const UPDATE_MS = 100

/**
 * A progress bar on stderr (cli-progress) for work that takes more than a second: drawn only on a
 * terminal, and only once the work has run for a second, so quick commands and scripts see nothing.
 * With a known total it shows the share done, the amount, the rate (bytes) and the time left; once
 * the work is done it is drawn complete and its line ended, or cleared if the work failed.
 */
export class Progress {
  readonly #started = Date.now()
  #library: CliProgress | undefined
  #bar: SingleBar | undefined
  #lastUpdate = 0
  #value = 0
  #total: number | undefined
  #what = ''
  #finished = false
  /** The work is over: late updates draw nothing. */
  #over = false

  constructor(
    private readonly label: string,
    private readonly units: Units = 'items',
  ) {
    // Loaded only on a terminal, while the work runs: scripts and --help never load it.
    if (process.stderr.isTTY === true) {
      import('cli-progress').then(
        (loaded) => (this.#library = loaded.default),
        () => undefined,
      )
    }
  }

  /** `done` of `total`; a total of undefined when it is not known (a pipe). */
  update(done: number, total?: number): void {
    this.#value = done
    this.#total = total
    this.#draw()
  }

  /** For work whose total is unknown: what is being done, and how many so far. */
  count(what: string, done: number): void {
    this.#what = what
    this.update(done)
  }

  /** Awaits `work`: then the bar, if drawn, is drawn complete (or cleared on failure). */
  async track<T>(work: Promise<T>): Promise<T> {
    try {
      const result = await work
      this.done()
      return result
    } catch (err) {
      this.#stop(false)
      throw err
    }
  }

  /** The work is complete: a drawn bar shows 100% and keeps its line. */
  done(): void {
    this.#stop(true)
  }

  #draw(): void {
    const now = Date.now()
    if (this.#over || this.#library === undefined || now - this.#started < 1000 || now - this.#lastUpdate < UPDATE_MS) return
    this.#lastUpdate = now
    if (!this.#bar) {
      this.#bar = new this.#library.SingleBar({
        stream: process.stderr,
        format: this.#format,
        formatValue: (v) => String(v),
        // Truncated to the terminal's width rather than turning its line wrapping off (left off if the process dies).
        linewrap: true,
        etaBuffer: 30,
        barsize: 24,
      })
      this.#bar.start(this.#total ?? 0, this.#value)
    }
    if (this.#total !== undefined) this.#bar.setTotal(this.#total)
    this.#bar.update(this.#value)
  }

  #stop(complete: boolean): void {
    this.#over = true
    const bar = this.#bar
    if (!bar) return
    this.#bar = undefined
    if (complete) {
      this.#finished = true
      const total = this.#total ?? this.#value
      bar.setTotal(total)
      bar.update(total)
      bar.stop()
    } else {
      // Cleared, so an error message that follows starts on a clean line.
      ;(bar as SingleBar & { options: Options }).options.clearOnComplete = true
      bar.stop()
    }
  }

  readonly #format: GenericFormatter = (options: Options, params: Params): string => {
    const library = this.#library as CliProgress
    const known = this.#total !== undefined || this.#finished
    const show = (n: number) => (this.units === 'bytes' ? humanSize(n) : String(n))
    const seconds = Math.max(0.001, (Date.now() - this.#started) / 1000)
    const rate = this.units === 'bytes' ? `${humanSize(Math.round(params.value / seconds))}/s` : ''
    if (!known) return [`${this.label}:`, this.#what, show(params.value), rate].filter((part) => part !== '').join(' ')
    const percent = params.total > 0 ? Math.floor(params.progress * 100) : 100
    const eta = this.#finished ? `in ${library.Format.TimeFormat(Math.round(seconds), options, 1)}` : `ETA ${params.eta > 0 && Number.isFinite(params.eta) ? library.Format.TimeFormat(params.eta, options, 1) : '-'}`
    return [this.label, library.Format.BarFormat(params.progress, options), `${percent}%`, `${show(params.value)}/${show(params.total)}`, rate, eta].filter((part) => part !== '').join(' ')
  }
}

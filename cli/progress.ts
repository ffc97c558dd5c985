/**
 * A progress bar on stderr for work that takes more than a second: drawn only on a terminal,
 * and only once the work has run for a second, so quick commands and scripts see nothing.
 */
export class Progress {
  readonly #started = Date.now()
  readonly #enabled = process.stderr.isTTY === true
  #drawn = false

  constructor(private readonly label: string) {}

  update(done: number, total: number, format: (n: number) => string = String): void {
    if (!this.#enabled || Date.now() - this.#started < 1000) return
    const width = 30
    const filled = total > 0 ? Math.round((done / total) * width) : 0
    const percent = total > 0 ? Math.floor((done / total) * 100) : 0
    process.stderr.write(`\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${percent}% ${format(done)}/${format(total)}`)
    this.#drawn = true
  }

  /** For work whose total is unknown: what is being done, and how many so far. */
  count(what: string, done: number): void {
    if (!this.#enabled || Date.now() - this.#started < 1000) return
    process.stderr.write(`\r\x1b[K${this.label}: ${what} ${done > 0 ? done : ''}`)
    this.#drawn = true
  }

  done(): void {
    if (this.#drawn) process.stderr.write('\n')
  }
}

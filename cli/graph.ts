/**
 * Draws history as git's `log --graph` does, one column per line of descent:
 *
 *   *   merge          a checkpoint is '*' in its column
 *   |\                 a merge opens a column for each further parent
 *   | * side
 *   * | main
 *   |/                 two columns waiting for the same checkpoint join
 *   * base
 */
export class GraphRenderer {
  /** For each column, the id of the checkpoint that column is waiting for. */
  #columns: string[] = []
  /** The text beside an entry's further lines, for the number of columns it was last made for. */
  #beside = { count: 1, text: '|' }

  /**
   * The graph lines for the next checkpoint: its row (`*` then `text`), any further lines of
   * its entry beside the columns, then the connector rows that lead to its parents.
   */
  row(id: string, parents: readonly string[], text: string, more: readonly string[] = []): string[] {
    const lines: string[] = []
    let column = this.#columns.indexOf(id)
    if (column === -1) {
      this.#columns.push(id)
      column = this.#columns.length - 1
    }
    lines.push(`${this.#cells(column, '*')} ${text}`)
    const beside = this.#besideText(this.#columns.length)
    for (const line of more) lines.push(`${beside} ${line}`.trimEnd())

    // Other columns waiting for this same checkpoint join it, rightmost first.
    for (let j = this.#columns.length - 1; j >= 0; j--) {
      if (this.#columns[j] !== id || j === column) continue
      lines.push(this.#joinLine(j))
      this.#columns.splice(j, 1)
    }
    column = this.#columns.indexOf(id)

    const [first, ...others] = parents
    if (first === undefined) {
      this.#columns.splice(column, 1)
      return lines
    }
    const alreadyWaiting = this.#columns.indexOf(first)
    if (alreadyWaiting !== -1 && alreadyWaiting !== column) {
      // The first parent is already drawn in another column: the two lines become one.
      const drop = Math.max(column, alreadyWaiting)
      this.#columns[Math.min(column, alreadyWaiting)] = first
      lines.push(this.#joinLine(drop))
      this.#columns.splice(drop, 1)
    } else {
      this.#columns[column] = first
    }
    for (const parent of others) {
      if (this.#columns.includes(parent)) continue
      const at = this.#columns.indexOf(first) + 1
      this.#columns.splice(at, 0, parent)
      lines.push(this.#forkLine(at))
    }
    return lines
  }

  #cells(column: number, mark: string): string {
    if (mark === '*' && this.#columns.length === 1) return '*'
    return this.#columns.map((_, i) => (i === column ? mark : '|')).join(' ')
  }

  /** `|` for each of `count` columns: the same for entry after entry until a fork or join. */
  #besideText(count: number): string {
    if (count !== this.#beside.count) this.#beside = { count, text: '|' + ' |'.repeat(count - 1) }
    return this.#beside.text
  }

  /** Column `from` (and every column right of it) bends one place left: `|/`, `|/ /`. */
  #joinLine(from: number): string {
    return this.#connector(from, '/', this.#columns.length)
  }

  /** A column opens at `at` (already inserted), branching right: `|\`, `|\ \`. */
  #forkLine(at: number): string {
    return this.#connector(at, '\\', this.#columns.length)
  }

  #connector(at: number, slant: string, count: number): string {
    const chars = Array.from({ length: count * 2 }, () => ' ')
    for (let i = 0; i < count; i++) {
      if (i < at) chars[i * 2] = '|'
      else chars[i * 2 - 1] = slant
    }
    return chars.join('').trimEnd()
  }
}

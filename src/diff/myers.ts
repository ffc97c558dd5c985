/**
 * Myers' O(ND) shortest edit script ("An O(ND) Difference Algorithm and Its Variations", 1986),
 * over two sequences given only by their lengths and an equality test, with a cost cap.
 *
 * It keeps the furthest-reaching point of every diagonal for each edit distance d, so its memory
 * is (D + 1)² integers for an edit distance D, whatever the lengths; its time is O((N + M)·D) at
 * worst and close to N + M + D² in practice.
 */

/** A run of `length` equal items: from[from + k] equals to[to + k] for k < length. */
export interface MatchedRun {
  readonly from: number
  readonly to: number
  readonly length: number
}

export interface EditLimits {
  /** Give up when the shortest edit script needs more insertions plus deletions than this. */
  readonly maxEdits: number
  /** Give up after this many calls to `equal`. */
  readonly maxComparisons: number
}

/**
 * The runs of a longest common subsequence of two sequences of lengths `n` and `m`, ascending in
 * both, or undefined when the edit distance or the number of comparisons exceeds `limits`.
 * Among equally short scripts the result is deterministic; deletions are taken before insertions.
 */
export function matchSequences(
  n: number,
  m: number,
  equal: (fromIndex: number, toIndex: number) => boolean,
  limits: EditLimits,
): MatchedRun[] | undefined {
  const maxD = Math.min(n + m, limits.maxEdits)
  const offset = maxD + 1
  // furthest[k + offset]: the furthest x reached on diagonal k = x - y.
  const furthest = new Int32Array(2 * maxD + 3)
  // trace[d][k + d]: furthest[k] after step d, for k in -d..d.
  const trace: Int32Array[] = []
  let comparisons = 0
  for (let d = 0; d <= maxD; d++) {
    for (let k = -d; k <= d; k += 2) {
      const down = k === -d || (k !== d && (furthest[offset + k - 1] as number) < (furthest[offset + k + 1] as number))
      let x = down ? (furthest[offset + k + 1] as number) : (furthest[offset + k - 1] as number) + 1
      let y = x - k
      while (x < n && y < m) {
        if (++comparisons > limits.maxComparisons) return undefined
        if (!equal(x, y)) break
        x++
        y++
      }
      furthest[offset + k] = x
      if (x >= n && y >= m) {
        trace.push(furthest.slice(offset - d, offset + d + 1))
        return backtrack(trace, n, m)
      }
    }
    trace.push(furthest.slice(offset - d, offset + d + 1))
  }
  return undefined
}

/** Walks the trace back from (n, m) and collects the diagonal runs of the path, in order. */
function backtrack(trace: readonly Int32Array[], n: number, m: number): MatchedRun[] {
  const runs: MatchedRun[] = []
  let x = n
  let y = m
  for (let d = trace.length - 1; d > 0; d--) {
    const previous = trace[d - 1] as Int32Array
    const at = (k: number) => previous[k + d - 1] as number
    const k = x - y
    const down = k === -d || (k !== d && at(k - 1) < at(k + 1))
    const startX = down ? at(k + 1) : at(k - 1) + 1
    const startY = startX - k
    if (x > startX) runs.push({ from: startX, to: startY, length: x - startX })
    x = down ? startX : startX - 1
    y = down ? startY - 1 : startY
  }
  if (x > 0) runs.push({ from: 0, to: 0, length: x })
  return runs.reverse()
}

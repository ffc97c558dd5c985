/**
 * Myers' O(ND) shortest edit script ("An O(ND) Difference Algorithm and Its Variations", 1986),
 * over two sequences given only by their lengths and an equality test, with a cost cap.
 *
 * It keeps the furthest-reaching point of every diagonal for each edit distance d, so its memory
 * is (d + 1)² integers, at most (maxEdits + 1)², whatever the lengths; its time is close to
 * N + M + D² in practice, and never more than `maxComparisons` calls to `equal`.
 */

/** A run of `length` equal items: from[from + k] equals to[to + k] for k < length. */
export interface MatchedRun {
  readonly from: number
  readonly to: number
  readonly length: number
}

export interface EditLimits {
  /**
   * Edits (insertions plus deletions) searched at a time. When the rest of the sequences needs
   * more, the path that got furthest is kept and the search starts again from its end, so the
   * result still aligns everything but may no longer be the shortest.
   */
  readonly maxEdits: number
  /** Calls to `equal` in all; once spent, what is not yet aligned is left without matches. */
  readonly maxComparisons: number
}

/**
 * The runs of a common subsequence of two sequences of lengths `n` and `m`, ascending in both:
 * a longest one when the edit distance is within `limits.maxEdits`. Deterministic; among equally
 * short scripts deletions are taken before insertions.
 */
export function matchSequences(
  n: number,
  m: number,
  equal: (fromIndex: number, toIndex: number) => boolean,
  limits: EditLimits,
): MatchedRun[] {
  const runs: MatchedRun[] = []
  const budget = { comparisons: limits.maxComparisons }
  let x = 0
  let y = 0
  while (x < n || y < m) {
    const x0 = x
    const y0 = y
    const step = searchFrom(n - x0, m - y0, (i, j) => equal(x0 + i, y0 + j), limits.maxEdits, budget)
    if (step === undefined) break
    for (const run of step.runs) runs.push({ from: x0 + run.from, to: y0 + run.to, length: run.length })
    x = x0 + step.x
    y = y0 + step.y
  }
  return runs
}

/**
 * One bounded search from (0, 0): the shortest path to (n, m) if it needs at most `maxEdits`
 * edits, else the path of `maxEdits` edits that got furthest (largest x + y). Undefined when the
 * comparison budget runs out first.
 */
function searchFrom(
  n: number,
  m: number,
  equal: (i: number, j: number) => boolean,
  maxEdits: number,
  budget: { comparisons: number },
): { runs: MatchedRun[]; x: number; y: number } | undefined {
  const maxD = Math.min(n + m, maxEdits)
  const offset = maxD + 1
  // furthest[k + offset]: the furthest x reached on diagonal k = x - y.
  const furthest = new Int32Array(2 * maxD + 3)
  // trace[d][k + d]: furthest[k] after step d, for k in -d..d.
  const trace: Int32Array[] = []
  for (let d = 0; d <= maxD; d++) {
    for (let k = -d; k <= d; k += 2) {
      const down = k === -d || (k !== d && (furthest[offset + k - 1] as number) < (furthest[offset + k + 1] as number))
      let x = down ? (furthest[offset + k + 1] as number) : (furthest[offset + k - 1] as number) + 1
      let y = x - k
      while (x < n && y < m) {
        if (--budget.comparisons < 0) return undefined
        if (!equal(x, y)) break
        x++
        y++
      }
      furthest[offset + k] = x
      if (x >= n && y >= m) {
        trace.push(furthest.slice(offset - d, offset + d + 1))
        return { runs: backtrack(trace, n, m), x: n, y: m }
      }
    }
    trace.push(furthest.slice(offset - d, offset + d + 1))
  }
  // Out of edits: end at the furthest point of the last step inside the grid (first diagonal on a tie).
  const last = trace[maxD] as Int32Array
  let best: { x: number; y: number } | undefined
  for (let k = -maxD; k <= maxD; k += 2) {
    const x = last[k + maxD] as number
    const y = x - k
    const inside = x >= 0 && x <= n && y >= 0 && y <= m
    if (inside && (best === undefined || x + y > best.x + best.y)) best = { x, y }
  }
  if (best === undefined || best.x + best.y === 0) return undefined
  return { runs: backtrack(trace, best.x, best.y), ...best }
}

/** Walks the trace back from (endX, endY) and collects the diagonal runs of the path, in order. */
function backtrack(trace: readonly Int32Array[], endX: number, endY: number): MatchedRun[] {
  const runs: MatchedRun[] = []
  let x = endX
  let y = endY
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

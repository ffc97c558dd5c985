import { CkptError } from '../errors.js'
import { checkStageName } from '../refs/names.js'
import type { ConfigField, ConfigValue, Pipeline, StageDefinition } from './types.js'

/** A validated pipeline: stages in a deterministic execution order, each with its upstream stages. */
export interface PipelineGraph {
  readonly pipeline: Pipeline
  /** Topological order; ties keep declaration order. */
  readonly order: readonly StageDefinition[]
  /** Stage name → the stages it directly depends on. */
  readonly upstream: ReadonlyMap<string, ReadonlySet<string>>
}

function invalid(problems: string[]): CkptError {
  return new CkptError('INVALID_ARGUMENT', `pipeline is not valid:\n  - ${problems.join('\n  - ')}`, { details: { problems } })
}

/**
 * Checks the pipeline before anything runs. Reports every problem at once, each naming the stage
 * and key: a read no input or upstream stage provides, two unordered stages writing one key, a
 * cycle, unknown `after` stages, duplicate names, bad config field declarations.
 */
export function buildGraph(pipeline: Pipeline): PipelineGraph {
  const problems: string[] = []
  const byName = new Map<string, StageDefinition>()
  for (const stage of pipeline.stages) {
    try {
      checkStageName(stage.name)
    } catch (err) {
      problems.push((err as Error).message)
    }
    if (byName.has(stage.name)) problems.push(`stage "${stage.name}" is declared twice`)
    // A pipeline file is user input: its shape is checked, not trusted by the type.
    if (!Array.isArray(stage.writes)) problems.push(`stage "${stage.name}" has no writes list (writes: ['key', …])`)
    for (const list of ['reads', 'optionalReads', 'after'] as const) {
      if (stage[list] !== undefined && !Array.isArray(stage[list])) problems.push(`stage "${stage.name}": ${list} must be a list of names`)
    }
    if (typeof stage.run !== 'function') problems.push(`stage "${stage.name}" has no run function`)
    byName.set(stage.name, stage)
    if (!stage.version) problems.push(`stage "${stage.name}" has no version`)
    for (const field of stage.config ?? []) {
      const error = checkValue(field, field.default)
      if (error) problems.push(`stage "${stage.name}" config "${field.name}": default ${error}`)
    }
  }
  const writers = new Map<string, string[]>()
  if (problems.length > 0) throw invalid(problems)
  for (const stage of pipeline.stages) for (const key of stage.writes) writers.set(key, [...(writers.get(key) ?? []), stage.name])
  const inputs = new Set(pipeline.inputs ?? [])

  // A stage depends on the writers of what it reads, and on its `after` stages.
  const upstream = new Map<string, Set<string>>()
  for (const stage of pipeline.stages) {
    const deps = new Set<string>()
    for (const key of [...(stage.reads ?? []), ...(stage.optionalReads ?? [])]) {
      const sources = (writers.get(key) ?? []).filter((w) => w !== stage.name)
      sources.forEach((s) => deps.add(s))
      if (sources.length === 0 && !inputs.has(key) && (stage.reads ?? []).includes(key)) {
        problems.push(`stage "${stage.name}" reads "${key}", which no pipeline input or upstream stage writes`)
      }
    }
    for (const name of stage.after ?? []) {
      if (!byName.has(name)) problems.push(`stage "${stage.name}" runs after "${name}", which is not a stage of this pipeline`)
      else deps.add(name)
    }
    upstream.set(stage.name, deps)
  }
  const order = topologicalOrder(pipeline.stages, upstream, problems)
  if (problems.length === 0) {
    const before = ancestors(order, upstream)
    for (const [key, names] of writers) {
      for (let i = 0; i < names.length; i++) {
        for (let j = i + 1; j < names.length; j++) {
          const [a, b] = [names[i] as string, names[j] as string]
          if (!before.get(a)?.has(b) && !before.get(b)?.has(a)) problems.push(`stages "${a}" and "${b}" both write "${key}" but neither runs after the other`)
        }
      }
    }
  }
  if (problems.length > 0) throw invalid(problems)
  return { pipeline, order, upstream }
}

function topologicalOrder(stages: readonly StageDefinition[], upstream: Map<string, Set<string>>, problems: string[]): StageDefinition[] {
  const order: StageDefinition[] = []
  const placed = new Set<string>()
  while (order.length < stages.length) {
    const next = stages.find((s) => !placed.has(s.name) && [...(upstream.get(s.name) ?? [])].every((d) => placed.has(d)))
    if (!next) {
      const stuck = stages.filter((s) => !placed.has(s.name)).map((s) => s.name)
      problems.push(`stages ${stuck.map((s) => `"${s}"`).join(', ')} form a cycle (each waits for another)`)
      return order
    }
    order.push(next)
    placed.add(next.name)
  }
  return order
}

/** Stage name → every stage that must run before it. */
export function ancestors(order: readonly StageDefinition[], upstream: ReadonlyMap<string, ReadonlySet<string>>): Map<string, Set<string>> {
  const result = new Map<string, Set<string>>()
  for (const stage of order) {
    const all = new Set<string>()
    for (const dep of upstream.get(stage.name) ?? []) {
      all.add(dep)
      result.get(dep)?.forEach((a) => all.add(a))
    }
    result.set(stage.name, all)
  }
  return result
}

/** Defaults overlaid with the caller's values; INVALID_ARGUMENT naming stage and field for anything wrong. */
export function effectiveConfig(
  graph: PipelineGraph,
  overrides: Readonly<Record<string, Readonly<Record<string, ConfigValue>>>> = {},
): Map<string, Record<string, ConfigValue>> {
  const problems: string[] = []
  const result = new Map<string, Record<string, ConfigValue>>()
  for (const name of Object.keys(overrides)) {
    if (!graph.order.some((s) => s.name === name)) problems.push(`config names stage "${name}", which is not in the pipeline (stages: ${graph.order.map((s) => s.name).join(', ')})`)
  }
  for (const stage of graph.order) {
    const fields = new Map((stage.config ?? []).map((f) => [f.name, f]))
    const given = overrides[stage.name] ?? {}
    const config: Record<string, ConfigValue> = {}
    for (const field of fields.values()) config[field.name] = field.default
    for (const [name, value] of Object.entries(given)) {
      const field = fields.get(name)
      if (!field) {
        problems.push(`stage "${stage.name}" has no config field "${name}" (fields: ${[...fields.keys()].join(', ') || 'none'})`)
        continue
      }
      const error = checkValue(field, value)
      if (error) problems.push(`stage "${stage.name}" config "${name}": ${error}`)
      else config[name] = value
    }
    result.set(stage.name, config)
  }
  if (problems.length > 0) throw invalid(problems)
  return result
}

function checkValue(field: ConfigField, value: unknown): string | undefined {
  const shown = JSON.stringify(value)
  switch (field.type) {
    case 'float':
    case 'int':
      if (typeof value !== 'number' || !Number.isFinite(value)) return `${shown} is not a number`
      if (field.type === 'int' && !Number.isInteger(value)) return `${shown} is not an integer`
      if (field.min !== undefined && value < field.min) return `${shown} is below the minimum ${field.min}`
      if (field.max !== undefined && value > field.max) return `${shown} is above the maximum ${field.max}`
      return undefined
    case 'str':
      if (typeof value !== 'string') return `${shown} is not a string`
      if (field.options && !field.options.includes(value)) return `${shown} is not one of ${field.options.join(', ')}`
      return undefined
    case 'bool':
      return typeof value === 'boolean' ? undefined : `${shown} is not true or false`
    case 'list[str]':
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) return `${shown} is not a list of strings`
      if (field.options) {
        const bad = value.find((v) => !field.options?.includes(v as string))
        if (bad !== undefined) return `${JSON.stringify(bad)} is not one of ${field.options.join(', ')}`
      }
      return undefined
    default:
      return `type ${String((field as { type: unknown }).type)} is not one of float, int, str, bool, list[str]`
  }
}

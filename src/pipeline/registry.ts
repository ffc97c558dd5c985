import { CkptError } from '../errors.js'
import type { StageDefinition } from './types.js'

/** Named stages for editors and UIs: look stages up by name, and list them grouped by category. */
export class StageRegistry {
  readonly #stages = new Map<string, StageDefinition>()

  register(...stages: StageDefinition[]): this {
    for (const stage of stages) {
      if (this.#stages.has(stage.name)) throw new CkptError('INVALID_ARGUMENT', `stage "${stage.name}" is already registered`)
      this.#stages.set(stage.name, stage)
    }
    return this
  }

  /** NOT_FOUND listing the registered names when there is no such stage. */
  get(name: string): StageDefinition {
    const stage = this.#stages.get(name)
    if (!stage) {
      throw new CkptError('NOT_FOUND', `no stage "${name}" is registered (registered: ${[...this.#stages.keys()].sort().join(', ') || 'none'})`, {
        details: { stage: name, registered: [...this.#stages.keys()].sort() },
      })
    }
    return stage
  }

  list(): StageDefinition[] {
    return [...this.#stages.values()]
  }

  /** Category → stages, categories and stages sorted by name; uncategorized stages under "other". */
  palette(): Map<string, StageDefinition[]> {
    const groups = new Map<string, StageDefinition[]>()
    for (const stage of this.list()) {
      const category = stage.category ?? 'other'
      groups.set(category, [...(groups.get(category) ?? []), stage])
    }
    return new Map([...groups].sort(([a], [b]) => a.localeCompare(b)).map(([c, s]) => [c, s.sort((x, y) => x.name.localeCompare(y.name))]))
  }
}

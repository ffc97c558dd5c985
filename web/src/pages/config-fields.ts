/** Form inputs generated from a stage's declared config fields, and the values read back. */
import type { ConfigField } from '../api.js'
import { h } from '../dom.js'

type Value = ConfigField['default']

export interface FieldInput {
  readonly field: ConfigField
  readonly element: HTMLElement
  /** The value entered, in the field's type. */
  value(): Value
}

function numberInput(field: ConfigField, id: string): FieldInput {
  const input = h('input', { id, type: 'number', name: field.name, value: String(field.default), step: field.type === 'int' ? 1 : 'any', min: field.min, max: field.max, required: true })
  return { field, element: input, value: () => (field.type === 'int' ? Math.trunc(input.valueAsNumber) : input.valueAsNumber) }
}

function selectInput(field: ConfigField, id: string, options: readonly string[]): FieldInput {
  const select = h('select', { id, name: field.name }, ...options.map((o) => h('option', { value: o, selected: o === field.default }, o)))
  return { field, element: select, value: () => select.value }
}

function listInput(field: ConfigField, id: string): FieldInput {
  const chosen = Array.isArray(field.default) ? field.default : []
  if (field.options?.length) {
    const boxes = field.options.map((o) => h('input', { type: 'checkbox', value: o, checked: chosen.includes(o) }))
    const element = h('span', { id, class: 'choices', role: 'group' }, ...boxes.map((box) => h('label', null, box, ` ${box.value}`)))
    return { field, element, value: () => boxes.filter((b) => b.checked).map((b) => b.value) }
  }
  const input = h('input', { id, name: field.name, value: chosen.join(', '), placeholder: 'comma-separated' })
  return {
    field,
    element: input,
    value: () =>
      input.value
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
  }
}

export function fieldInput(stage: string, field: ConfigField): FieldInput {
  const id = `config-${stage}-${field.name}`
  switch (field.type) {
    case 'int':
    case 'float':
      return numberInput(field, id)
    case 'bool': {
      const box = h('input', { id, type: 'checkbox', name: field.name, checked: field.default === true })
      return { field, element: box, value: () => box.checked }
    }
    case 'list[str]':
      return listInput(field, id)
    default: {
      if (field.options?.length) return selectInput(field, id, field.options)
      const input = h('input', { id, name: field.name, value: String(field.default) })
      return { field, element: input, value: () => input.value }
    }
  }
}

export function sameValue(a: Value, b: Value): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

/** The field's line in the form: label, input, its range or choices, its description. */
export function fieldRow(stage: string, input: FieldInput): HTMLElement {
  const { field } = input
  const range = field.min !== undefined || field.max !== undefined ? `${field.min ?? '…'} – ${field.max ?? '…'}` : ''
  return h(
    'div',
    { class: 'field' },
    h('label', { for: `config-${stage}-${field.name}` }, field.name, h('span', { class: 'type' }, ` ${field.type}`)),
    input.element,
    h('span', { class: 'hint' }, [field.description, range && `range ${range}`, `default ${JSON.stringify(field.default)}`].filter(Boolean).join(' · ')),
  )
}

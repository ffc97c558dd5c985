/** Small DOM builders: the view has no framework, so pages build their elements with these. */

export type Child = Node | string | number | null | undefined | false
type Attributes = Record<string, string | number | boolean | undefined | null>

function append(parent: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue
    parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)))
  }
}

function setAttributes(element: Element, attributes: Attributes | null): void {
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value === undefined || value === null || value === false) continue
    element.setAttribute(name, value === true ? '' : String(value))
  }
}

/** An HTML element with attributes and children; text children are never parsed as HTML. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes | null = null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag)
  setAttributes(element, attributes)
  append(element, children)
  return element
}

const SVG = 'http://www.w3.org/2000/svg'

/** An SVG element with attributes and children. */
export function svg<K extends keyof SVGElementTagNameMap>(tag: K, attributes: Attributes | null = null, ...children: Child[]): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG, tag)
  setAttributes(element, attributes)
  append(element, children)
  return element
}

/** Replaces everything inside `parent`. */
export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren()
  append(parent, children)
}

/** A definition list of label → value rows, skipping empty values. */
export function facts(rows: ReadonlyArray<readonly [string, Child]>): HTMLDListElement {
  const list = h('dl', { class: 'facts' })
  for (const [label, value] of rows) {
    if (value === undefined || value === null || value === '' || value === false) continue
    list.append(h('dt', null, label), h('dd', null, value))
  }
  return list
}

/** A message in place of a page's content when loading it failed. */
export function failure(err: unknown): HTMLElement {
  return h('p', { class: 'error', role: 'alert' }, err instanceof Error ? err.message : String(err))
}

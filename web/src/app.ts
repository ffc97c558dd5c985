/** The view's entry: routes `location.hash` to a page and keeps one event stream open. */
import { connectEvents } from './events.js'
import { checkpointPage } from './pages/checkpoint.js'
import { diffPage } from './pages/diff.js'
import { graphPage } from './pages/graph.js'
import { replayPage } from './pages/replay.js'
import { runsPage } from './pages/runs.js'

type Page = (root: HTMLElement, ...params: string[]) => () => void

const routes: ReadonlyArray<readonly [RegExp, Page, string]> = [
  [/^#?\/?$/, graphPage, 'graph'],
  [/^#\/checkpoint\/([^/]+)$/, checkpointPage, 'graph'],
  [/^#\/diff(?:\/([^/]+)\/([^/]+))?\/?$/, diffPage, 'diff'],
  [/^#\/runs(?:\/([^/]+))?\/?$/, runsPage, 'runs'],
  [/^#\/replay\/?$/, replayPage, 'replay'],
]

let leave: (() => void) | undefined

function decode(part: string | undefined): string {
  if (part === undefined) return ''
  try {
    return decodeURIComponent(part)
  } catch {
    return part
  }
}

function show(): void {
  const root = document.getElementById('page')
  if (!root) return
  leave?.()
  const hash = location.hash
  for (const [pattern, page, nav] of routes) {
    const match = pattern.exec(hash)
    if (!match) continue
    for (const link of document.querySelectorAll<HTMLAnchorElement>('[data-nav]')) link.classList.toggle('active', link.dataset.nav === nav)
    leave = page(root, ...match.slice(1).filter((p) => p !== undefined).map(decode))
    window.scrollTo(0, 0)
    return
  }
  root.replaceChildren()
  const missing = document.createElement('p')
  missing.className = 'error'
  missing.textContent = `No page at ${hash}.`
  root.append(missing)
  leave = undefined
}

connectEvents()
window.addEventListener('hashchange', show)
show()

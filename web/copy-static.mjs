// The view's static files (the page and its stylesheet) go beside the compiled modules in dist/web.
import { copyFileSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const out = path.resolve(here, '../dist/web')
mkdirSync(out, { recursive: true })
for (const file of ['index.html', 'style.css']) copyFileSync(path.join(here, file), path.join(out, file))

/**
 * The browser view of `ckpt serve`, driven in a real headless Chromium (Debian's `chromium`,
 * through playwright-core) against a real server on an ephemeral port and a LevelDB store holding
 * the video pipeline's flow: a run that fails, its resume, a replay, and two image checkpoints.
 * Screenshots of each page go to a folder under the OS temp dir (printed).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { crc32, deflateSync } from 'node:zlib'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defaultInputs, pipeline } from '../docs/examples/video-pipeline/pipeline.js'
import { startServer, type RunningServer } from '../server/index.js'
import { initStore, replay, resume, run, type Store } from '../src/index.js'

const WEB_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/web')
const CHROMIUM = process.env.CKPT_CHROMIUM ?? '/usr/bin/chromium'

/** A small PNG of one colour with a darker square in it, so that two versions differ visibly. */
function png(width: number, height: number, [r, g, b]: readonly [number, number, number]): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data])
    const out = Buffer.alloc(body.length + 8)
    out.writeUInt32BE(data.length, 0)
    body.copy(out, 4)
    out.writeUInt32BE(crc32(body), body.length + 4)
    return out
  }
  const header = Buffer.alloc(13)
  header.writeUInt32BE(width, 0)
  header.writeUInt32BE(height, 4)
  header.set([8, 2, 0, 0, 0], 8) // 8-bit RGB
  const rows = Buffer.alloc((width * 3 + 1) * height)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inner = x > width / 4 && x < (width * 3) / 4 && y > height / 4 && y < (height * 3) / 4
      rows.set(inner ? [r >> 1, g >> 1, b >> 1] : [r, g, b], y * (width * 3 + 1) + 1 + x * 3)
    }
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header), chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0))])
}

/** The README's flow on a fresh store, plus a `thumbnails` timeline whose two checkpoints hold images. */
async function videoStore(dir: string): Promise<Store> {
  const store = await initStore(path.join(dir, '.ckpt'), { author: 'web-test' })
  const first = await run({ store, pipeline, inputs: defaultInputs() })
  expect(first.status).toBe('failed')
  await resume({ store, pipeline, runId: first.runId })
  await replay({ store, pipeline, runId: first.runId, startStage: 'ocr', timeline: 'strict-ocr', config: { ocr: { min_confidence: 0.9, stall_first_attempt: false }, escalate_vlm: { fail_first_attempt: false } } })
  const main = await store.resolve('main')
  const before = await store.commit({ outputs: { thumbnail: png(96, 64, [47, 111, 222]) }, stage: 'thumbnail', message: 'first thumbnail', timeline: 'thumbnails', parent: main })
  await store.commit({ outputs: { thumbnail: png(96, 64, [217, 72, 15]) }, stage: 'thumbnail', message: 'warmer thumbnail', timeline: 'thumbnails', parent: before.id })
  return store
}

/** A tab whose loads, page errors and CSP violations are counted. */
interface Tab {
  readonly page: Page
  loads: number
  readonly errors: string[]
}

async function openTab(context: BrowserContext, url: string): Promise<Tab> {
  const page = await context.newPage()
  const tab: Tab = { page, loads: 0, errors: [] }
  page.on('load', () => tab.loads++)
  page.on('pageerror', (err) => tab.errors.push(`page error: ${err.message}`))
  page.on('console', (message) => {
    if (message.type() === 'error') tab.errors.push(`console: ${message.text()}`)
  })
  await page.goto(url)
  // Survives any number of hash changes, but not a reload.
  await page.evaluate('window.__sameDocument = true')
  return tab
}

const stillSameDocument = (tab: Tab) => tab.page.evaluate('window.__sameDocument === true')

describe('the browser view of ckpt serve', () => {
  let dir: string
  let store: Store
  let server: RunningServer
  let browser: Browser
  let context: BrowserContext
  let tab: Tab
  let graphTab: Tab
  let shots: string
  const requests: string[] = []
  const screenshot = async (page: Page, name: string) => {
    const file = path.join(shots, `server-${name}.png`)
    await page.screenshot({ path: file, fullPage: true })
    console.log(`screenshot: ${file}`)
  }

  beforeAll(async () => {
    if (!existsSync(path.join(WEB_ROOT, 'app.js'))) throw new Error(`the browser view is not built: ${WEB_ROOT}/app.js is missing (run npm run build)`)
    dir = mkdtempSync(path.join(os.tmpdir(), 'ckpt-web-view-'))
    shots = path.join(os.tmpdir(), `ckpt-web-view-screenshots-${process.pid}`)
    mkdirSync(shots, { recursive: true })
    store = await videoStore(dir)
    server = await startServer({ store, location: path.join(dir, '.ckpt'), pipelines: [{ pipeline, inputs: defaultInputs() }], port: 0, webRoot: WEB_ROOT, pollMs: 100 })
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
    context = await browser.newContext({ viewport: { width: 1200, height: 800 } })
    // The test's pages have no DOM types here (Node's tsconfig): browser code is passed as text.
    await context.addInitScript("document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))")
    context.on('request', (request) => requests.push(request.url()))
    // A graph left open from the start: it must pick up what the replay writes by itself.
    graphTab = await openTab(context, `${server.url}/`)
    tab = await openTab(context, `${server.url}/`)
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await server?.close()
    await store?.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('shows the graph with every timeline, tag and HEAD, and a row opens its checkpoint', async () => {
    const { page } = tab
    await page.locator('.graph-row').first().waitFor()
    for (const name of ['main', 'strict-ocr', 'thumbnails']) await expect(page.locator(`.label.timeline[data-timeline="${name}"]`).count()).resolves.toBe(1)
    await expect(page.locator('.label.timeline.current').textContent()).resolves.toBe('HEAD → main')
    const rows = await page.locator('.graph-row').count()
    await expect(page.locator('svg.graph-svg circle').count()).resolves.toBe(rows)
    expect(await page.locator('svg.graph-svg path').count()).toBeGreaterThanOrEqual(rows - 1)
    await screenshot(page, 'graph')

    const strict = await store.resolve('strict-ocr')
    await page.locator(`.graph-row[data-id="${strict}"]`).click()
    await page.waitForURL(`**/#/checkpoint/${strict}`)
    await page.locator('table.stages').waitFor()
  })

  it('shows a checkpoint with its stages, the stage that produced it, its run and config, and each output', async () => {
    const { page } = tab
    const strict = await store.getCheckpoint(await store.resolve('strict-ocr'))
    await expect(page.locator('h1 code').textContent()).resolves.toBe(strict.shortId)
    await expect(page.locator('table.stages tbody tr').count()).resolves.toBe(Object.keys(strict.stages).length)
    await expect(page.locator('tr.producer td').first().textContent()).resolves.toContain('report')
    await expect(page.locator('.facts').textContent()).resolves.toContain(strict.run ?? 'no run')
    await page.locator('button[data-stage="report"]').click()
    await expect(page.locator('#output-viewer pre.output-json').textContent()).resolves.toContain('"brands"')
    await screenshot(page, 'checkpoint')

    await page.locator('#diff-parent').click()
    await page.waitForURL(`**/#/diff/${strict.parents[0]}/${strict.id}`)
    await page.locator('.stage-diff').first().waitFor()
  })

  it('compares two revisions picked by name: JSON paths old → new, and images side by side', async () => {
    const { page } = tab
    await page.locator('input[name="from"]').fill('main')
    await page.locator('input[name="to"]').fill('strict-ocr')
    await page.locator('.diff-picker button[type="submit"]').click()
    await page.waitForURL('**/#/diff/main/strict-ocr')
    const report = page.locator('.stage-diff[data-stage="report"]')
    await report.waitFor()
    await expect(report.locator('.status').textContent()).resolves.toBe('changed')
    expect(await report.locator('.json-changes tbody tr').count()).toBeGreaterThan(0)
    await expect(report.locator('.json-changes').textContent()).resolves.toContain('/report/')
    await screenshot(page, 'diff')

    await page.locator('input[name="from"]').fill('thumbnails~1')
    await page.locator('input[name="to"]').fill('thumbnails')
    await page.locator('.diff-picker button[type="submit"]').click()
    const images = page.locator('.stage-diff[data-stage="thumbnail"] .side-by-side img')
    await images.nth(1).waitFor()
    await page.waitForFunction("[...document.querySelectorAll('.side-by-side img')].every((img) => img.complete && img.naturalWidth === 96)")
    await screenshot(page, 'diff-images')
  })

  it("lists the runs, each with its audit: status, timing, attempts and errors", async () => {
    const { page } = tab
    await page.locator('nav a[data-nav="runs"]').click()
    const runs = await store.runs()
    await page.locator('details.run').nth(runs.length - 1).waitFor()
    await expect(page.locator('details.run').count()).resolves.toBe(runs.length)
    const first = runs.find((r) => r.timeline === 'main' && r.stages !== null && Object.keys(r.stages).length > 0)!
    const details = page.locator(`details.run[data-run="${first.runId}"]`)
    await details.locator('summary').click()
    await details.locator('table.audit').waitFor()
    const text = await details.locator('table.audit').textContent()
    expect(text).toContain('escalate_vlm')
    expect(text).toContain('timed out')
    await expect(details.locator('tr.status-failed').count()).resolves.toBeGreaterThan(0)
    await screenshot(page, 'runs')
  })

  it('replays from a form built from the stage config fields, follows it live, and the open graph shows the new timeline without reloading', async () => {
    const { page } = tab
    await page.locator('nav a[data-nav="replay"]').click()
    await page.locator('#replay-form').waitFor()
    // The form comes from the stages' declared config fields.
    await expect(page.locator('#config-extract_frames-fps').getAttribute('min')).resolves.toBe('1')
    await expect(page.locator('#config-extract_frames-fps').getAttribute('max')).resolves.toBe('30')
    await expect(page.locator('select#config-detect_objects-model option').allTextContents()).resolves.toEqual(['yolo-s', 'yolo-m'])
    await expect(page.locator('#config-ocr-stall_first_attempt').getAttribute('type')).resolves.toBe('checkbox')
    await page.locator('#config-match_brands-brands').waitFor()

    await page.locator('#replay-stage').selectOption('ocr')
    await expect(page.locator('#config-extract_frames-fps').isDisabled()).resolves.toBe(true)
    await page.locator('#config-ocr-min_confidence').fill('0.95')
    await page.locator('#config-ocr-stall_first_attempt').uncheck()
    await page.locator('#config-escalate_vlm-fail_first_attempt').uncheck()
    await page.locator('#replay-timeline').fill('from-the-browser')
    await page.locator('#replay-submit').click()

    const outcome = page.locator('#replay-outcome .outcome')
    await outcome.waitFor({ timeout: 30_000 })
    await expect(outcome.getAttribute('data-status')).resolves.toBe('succeeded')
    const live = await page.locator('#replay-progress').textContent()
    expect(live).toContain('started on from-the-browser')
    expect(live).toContain('ocr: running')
    await screenshot(page, 'replay')

    const replayed = await store.getCheckpoint(await store.resolve('from-the-browser'))
    expect(replayed.stages.ocr).toBeDefined()
    // The graph tab never navigated: the event stream brought the new timeline in.
    await graphTab.page.locator('.label.timeline[data-timeline="from-the-browser"]').waitFor({ timeout: 10_000 })
    await graphTab.page.locator(`.graph-rows li.fresh .graph-row[data-id="${replayed.id}"]`).waitFor()
    expect(graphTab.loads).toBe(1)
    expect(await stillSameDocument(graphTab)).toBe(true)
    await screenshot(graphTab.page, 'graph-live')

    await page.locator('#replay-outcome a[href="#/"]').click()
    await page.locator('.label.timeline[data-timeline="from-the-browser"]').waitFor()
    expect(tab.loads).toBe(1)
    expect(await stillSameDocument(tab)).toBe(true)
  })

  it('made no request outside its server and broke no rule of its Content-Security-Policy', () => {
    const origin = new URL(server.url).origin
    expect(requests.length).toBeGreaterThan(10)
    expect(requests.filter((url) => !url.startsWith('data:') && new URL(url).origin !== origin)).toEqual([])
    expect([...tab.errors, ...graphTab.errors]).toEqual([])
  })
})

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ckpt, ckptIn, jsonLines } from './support/cli.js'
import { openEvents, type StreamedEvent } from './support/events.js'
import { http, startServe, type ServeProcess } from './support/server.js'
import { freshSchemaUrl } from './support/postgres.js'
import { tempDir } from './support/temp.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const PIPELINE = path.join(root, 'dist/docs/examples/video-pipeline/pipeline.js')
/** The video pipeline without its simulated waits; escalate_vlm still fails its first attempt. */
const FAST = JSON.stringify({ ocr: { stall_first_attempt: false }, escalate_vlm: { latency_ms: 0 } })

/** A store with JSON and bytes outputs, a second timeline, a tag, and a failed pipeline run. */
function populatedStore(dir = tempDir()): string {
  const c = ckptIn(dir)
  c('init')
  c('commit', '-s', 'detect', '--json', '{"boxes":[1,2],"label":"cat"}', '-m', 'first detect')
  writeFileSync(path.join(dir, 'notes.txt'), 'line one\nline two\n')
  c('commit', '-s', 'notes', '--file', 'notes.txt', '-m', 'notes')
  mkdirSync(path.join(dir, 'frames/sub'), { recursive: true })
  writeFileSync(path.join(dir, 'frames/0001.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]))
  writeFileSync(path.join(dir, 'frames/sub/info.json'), '{"fps":2}')
  c('commit', '-s', 'frames', '--dir', 'frames', '-m', 'frames')
  c('commit', '-s', 'detect', '--json', '{"boxes":[1,2,3],"label":"dog"}', '-m', 'second detect')
  c('tag', 'v1')
  c('timeline', 'experiment', 'HEAD~1')
  const run = ckpt(dir, ['run', PIPELINE, '--timeline', 'video', '--job', 'video-17', '--run', 'r1', '--config', FAST])
  expect(run.code).toBe(10)
  return dir
}

/** GET of `route` exactly as written, dots and all. */
function rawGet(base: string, route: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(base)
    const request = httpRequest({ hostname, port, path: route, method: 'GET' }, (response) => {
      let text = ''
      response.setEncoding('utf8').on('data', (piece: string) => (text += piece))
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text }))
    })
    request.on('error', reject).end()
  })
}

describe('ckpt serve: read endpoints mirror the CLI --json', () => {
  let dir: string
  let server: ServeProcess
  const get = async (route: string) => {
    const response = await http('GET', server.url + route)
    expect(response.status, `${route}: ${response.text}`).toBe(200)
    return response.body
  }

  beforeAll(async () => {
    dir = populatedStore(mkdtempSync(path.join(os.tmpdir(), 'ckpt-serve-read-')))
    server = await startServe(dir, ['--pipeline', PIPELINE], {}, { shared: true })
  }, 60_000)
  afterAll(async () => {
    await server.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('status, timelines, tags, log, show, diff, runs, audit, reflog and plan answer what the CLI prints', async () => {
    const c = ckptIn(dir)
    expect(await get('/api/status')).toEqual(JSON.parse(c('status', '--json')))
    expect(await get('/api/timelines')).toEqual(jsonLines(c('timeline', '--json')))
    expect(await get('/api/tags')).toEqual(jsonLines(c('tag', '--json')))
    expect(((await get('/api/log')) as { checkpoints: unknown }).checkpoints).toEqual(jsonLines(c('log', '--json')))
    expect(((await get('/api/log?rev=video&job=video-17')) as { checkpoints: unknown }).checkpoints).toEqual(jsonLines(c('log', 'video', '--job', 'video-17', '--json')))
    expect(await get('/api/checkpoints/HEAD~1')).toEqual(JSON.parse(c('show', 'HEAD~1', '--json')))
    expect(await get('/api/diff?from=experiment&to=main')).toEqual(JSON.parse(c('diff', 'experiment', 'main', '--json')))
    expect(await get('/api/runs?job=video-17')).toEqual(jsonLines(c('runs', '--job', 'video-17', '--json')))
    expect(await get('/api/reflog?ref=main')).toEqual(jsonLines(c('reflog', 'main', '--json')))
    expect(await get(`/api/pipelines/video-brand-detection/plan?stage=ocr&run=r1`)).toEqual(jsonLines(c('plan', PIPELINE, '--replay', 'ocr', '--run', 'r1', '--json')))
    // The audit leaves out stack traces of failed stages: the rest is what the CLI prints.
    const audit = jsonLines(c('audit', 'r1', '--json')).map(({ error, ...entry }) => ({ ...entry, ...(error !== undefined && { error: { message: (error as { message: string }).message } }) }))
    expect(await get('/api/runs/r1/audit')).toEqual(audit)
    expect(JSON.stringify(await get('/api/runs/r1/audit'))).not.toContain('stack')
  })

  it('pages the log with a cursor that keeps walking the same history after the timeline moves', async () => {
    const all = jsonLines(ckptIn(dir)('log', 'main', '--json'))
    const first = (await get('/api/log?rev=main&limit=2')) as { checkpoints: Array<{ id: string }>; next: string }
    expect(first.checkpoints.map((c) => c.id)).toEqual(all.slice(0, 2).map((c) => c.id))
    expect(typeof first.next).toBe('string')
    ckptIn(dir)('commit', '-s', 'detect', '--json', '{"moved":true}', '-m', 'moves main', '-t', 'main')
    const second = (await get(`/api/log?rev=main&limit=2&cursor=${first.next}`)) as { checkpoints: Array<{ id: string }>; next: string | null }
    expect(second.checkpoints.map((c) => c.id)).toEqual(all.slice(2, 4).map((c) => c.id))
    expect(second.next).toBeNull()
    const bad = await http('GET', `${server.url}/api/log?cursor=not-a-cursor`)
    expect(bad.status).toBe(400)
    expect((bad.body as { code: string }).code).toBe('INVALID_ARGUMENT')
  })

  it('serves outputs: JSON as JSON, bytes with their type, ETag, 304 and Range, by id as immutable', async () => {
    const json = await http('GET', `${server.url}/api/checkpoints/main/outputs/detect`)
    expect(json.headers.get('content-type')).toMatch(/^application\/json/)
    const notes = await fetch(`${server.url}/api/checkpoints/main/outputs/notes`)
    expect(notes.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    expect(await notes.text()).toBe('line one\nline two\n')
    const etag = notes.headers.get('etag') as string
    const id = JSON.parse(etag) as string
    expect(etag).toBe(`"${id}"`)
    expect(notes.headers.get('content-security-policy')).toContain('sandbox')
    expect((await fetch(`${server.url}/api/checkpoints/main/outputs/notes`, { headers: { 'if-none-match': etag } })).status).toBe(304)
    const part = await fetch(`${server.url}/api/checkpoints/main/outputs/notes`, { headers: { range: 'bytes=5-7' } })
    expect(part.status).toBe(206)
    expect(part.headers.get('content-range')).toBe('bytes 5-7/18')
    expect(await part.text()).toBe('one')
    const outside = await http('GET', `${server.url}/api/checkpoints/main/outputs/notes`, undefined, { range: 'bytes=100-200' })
    expect(outside.status).toBe(416)
    const byId = await fetch(`${server.url}/api/outputs/${id}`)
    expect(byId.headers.get('cache-control')).toContain('immutable')
    expect(await byId.text()).toBe('line one\nline two\n')
  })

  it("lists a folder output's files and serves one of them, with its type", async () => {
    const listing = await http('GET', `${server.url}/api/checkpoints/main/outputs/frames`)
    expect(listing.body).toEqual({ files: jsonLines(ckptIn(dir)('cat', 'main:frames', '--json')) })
    expect(listing.body).toEqual({ files: [{ path: '0001.png', size: 11 }, { path: 'sub/info.json', size: 9 }] })
    const frame = await fetch(`${server.url}/api/checkpoints/main/outputs/frames/files/0001.png`)
    expect(frame.headers.get('content-type')).toBe('image/png')
    expect(Buffer.from(await frame.arrayBuffer())).toEqual(ckpt(dir, ['cat', 'main:frames/0001.png']).raw)
    const nested = await http('GET', `${server.url}/api/checkpoints/main/outputs/frames/files/sub/info.json`)
    expect(nested.body).toEqual({ fps: 2 })
    expect((await http('GET', `${server.url}/api/checkpoints/main/outputs/frames/files/nosuch.png`)).status).toBe(404)
  })

  it('answers errors as {code, message} with the status of the one table, and no stack', async () => {
    const missing = await http('GET', `${server.url}/api/checkpoints/nosuch`)
    expect(missing.status).toBe(404)
    expect(missing.body).toEqual({ code: 'NOT_FOUND', message: expect.stringContaining('nosuch') })
    const stage = await http('GET', `${server.url}/api/checkpoints/main/outputs/nosuch`)
    expect([stage.status, (stage.body as { code: string }).code]).toEqual([404, 'NOT_FOUND'])
    const route = await http('GET', `${server.url}/api/nothing-here`)
    expect([route.status, (route.body as { code: string }).code]).toEqual([404, 'NOT_FOUND'])
    const run = await http('GET', `${server.url}/api/runs/nosuch/audit`)
    expect(run.status).toBe(404)
    const badLimit = await http('GET', `${server.url}/api/log?limit=abc`)
    expect([badLimit.status, (badLimit.body as { code: string }).code]).toEqual([400, 'INVALID_ARGUMENT'])
    expect(badLimit.text).toContain('abc')
    for (const r of [missing, stage, route, run, badLimit]) expect(Object.keys(r.body as object).sort()).toEqual(['code', 'message'])
  })

  it('refuses hostile path parameters with 400: .., encoded slashes, NUL, backslashes', async () => {
    for (const route of ['/api/checkpoints/..', '/api/checkpoints/..%2F..%2Fetc', '/api/checkpoints/main%2F..', '/api/checkpoints/HEAD%00', '/api/checkpoints/a%5Cb', '/api/checkpoints/main/outputs/..%2Fx', '/api/checkpoints/main/outputs/detect/files/..%2F..%2Fpasswd', '/api/checkpoints/main/outputs/detect/files/a/../../b']) {
      // Sent as written (fetch would resolve the dots before sending).
      const response = await rawGet(server.url, route)
      expect([route, response.status]).toEqual([route, 400])
      expect((JSON.parse(response.text) as { code: string }).code).toBe('INVALID_ARGUMENT')
    }
  })

  it('publishes an OpenAPI 3 document naming every endpoint', async () => {
    const doc = (await get('/openapi.json')) as { openapi: string; paths: Record<string, Record<string, unknown>> }
    expect(doc.openapi).toMatch(/^3\./)
    for (const [route, method] of [
      ['/api/status', 'get'],
      ['/api/log', 'get'],
      ['/api/graph', 'get'],
      ['/api/checkpoints/{rev}', 'get'],
      ['/api/checkpoints/{rev}/outputs/{stage}', 'get'],
      ['/api/diff', 'get'],
      ['/api/runs', 'get'],
      ['/api/runs/{run}/audit', 'get'],
      ['/api/reflog', 'get'],
      ['/api/events', 'get'],
      ['/api/pipelines/{name}/replay', 'post'],
      ['/api/runs/{run}/resume', 'post'],
      ['/api/commit', 'post'],
      ['/api/timelines', 'post'],
      ['/api/timelines/{name}', 'put'],
      ['/api/timelines/{name}', 'delete'],
    ] as const) {
      expect(doc.paths[route]?.[method], `${method} ${route}`).toBeDefined()
    }
  })
})

describe('ckpt serve: writes', () => {
  it('commits JSON and multipart bytes that the CLI then reads; a stale expectedHead is 409 and writes nothing', async () => {
    const dir = populatedStore()
    const server = await startServe(dir)
    const head = ckptIn(dir)('rev-parse', 'main')
    const committed = await http('POST', `${server.url}/api/commit`, { stage: 'detect', outputs: { detect: { label: 'bird' } }, message: 'over http', runId: 'py-1', jobId: 'job 9', expectedHead: head })
    expect(committed.status).toBe(201)
    const checkpoint = committed.body as { id: string; message: string; run: string; job: string }
    expect(checkpoint).toMatchObject({ message: 'over http', run: 'py-1', job: 'job 9' })
    expect(JSON.parse(ckptIn(dir)('cat', 'main:detect'))).toEqual({ label: 'bird' })

    const stale = await http('POST', `${server.url}/api/commit`, { stage: 'detect', outputs: { detect: { label: 'late' } }, expectedHead: head })
    expect([stale.status, (stale.body as { code: string }).code]).toEqual([409, 'REF_CONFLICT'])
    expect(ckptIn(dir)('rev-parse', 'main')).toBe(checkpoint.id)

    const form = new FormData()
    form.set('meta', JSON.stringify({ stage: 'frame', message: 'bytes over http', expectedHead: checkpoint.id }))
    const bytes = new Uint8Array(300_000).map((_, i) => (i * 7) % 256)
    form.set('frame', new Blob([bytes]), 'frame-0001.png')
    const upload = await fetch(`${server.url}/api/commit`, { method: 'POST', body: form })
    expect(upload.status).toBe(201)
    const uploaded = (await upload.json()) as { files: Record<string, string>; kinds: Record<string, string> }
    expect(uploaded.files.frame).toBe('frame-0001.png')
    expect(uploaded.kinds.frame).toBe('bytes')
    const read = ckpt(dir, ['cat', 'main:frame'])
    expect(Buffer.compare(read.raw, Buffer.from(bytes))).toBe(0)
    // The file name gives the type.
    expect((await fetch(`${server.url}/api/checkpoints/main/outputs/frame`)).headers.get('content-type')).toBe('image/png')
  }, 60_000)

  it('creates, moves and deletes timelines with compare-and-swap: a moved head is 409', async () => {
    const dir = populatedStore()
    const server = await startServe(dir)
    const c = ckptIn(dir)
    const [newest, older] = [c('rev-parse', 'main'), c('rev-parse', 'main~1')]
    const created = await http('POST', `${server.url}/api/timelines`, { name: 'try', at: 'main~1' })
    expect([created.status, created.body]).toEqual([201, { name: 'try', head: older }])
    expect((await http('POST', `${server.url}/api/timelines`, { name: 'try', at: 'main' })).status).toBe(409)

    const stale = await http('PUT', `${server.url}/api/timelines/try`, { to: 'main', expected: newest })
    expect([stale.status, (stale.body as { code: string }).code]).toEqual([409, 'REF_CONFLICT'])
    expect(c('rev-parse', 'try')).toBe(older)
    const moved = await http('PUT', `${server.url}/api/timelines/try`, { to: 'main', expected: older })
    expect([moved.status, moved.body]).toEqual([200, { name: 'try', head: newest }])

    expect((await http('DELETE', `${server.url}/api/timelines/try?expected=${older}`)).status).toBe(409)
    expect(c('rev-parse', 'try')).toBe(newest)
    expect((await http('DELETE', `${server.url}/api/timelines/try?expected=${newest}`)).status).toBe(204)
    expect(ckpt(dir, ['rev-parse', 'try']).code).toBe(4)
  }, 60_000)

  it('replays from a stage with config overrides onto a new timeline, and resumes a failed run', async () => {
    const dir = populatedStore()
    const server = await startServe(dir, ['--pipeline', PIPELINE])
    const replayed = await http('POST', `${server.url}/api/pipelines/video-brand-detection/replay`, {
      stage: 'ocr',
      run: 'r1',
      timeline: 'strict-ocr',
      config: { ocr: { min_confidence: 0.9 }, escalate_vlm: { fail_first_attempt: false } },
    })
    expect(replayed.status, replayed.text).toBe(200)
    const report = replayed.body as { runId: string; timeline: string; status: string; counts: { executed: number; reused: number; failed: number } }
    expect(report).toMatchObject({ timeline: 'strict-ocr', status: 'succeeded', counts: { failed: 0 } })
    expect(report.counts.executed).toBeGreaterThan(0)
    expect(report.counts.executed + report.counts.reused).toBe(6)
    const runs = jsonLines(ckptIn(dir)('runs', '--timeline', 'strict-ocr', '--json'))
    expect(runs.map((r) => [r.runId, r.status])).toEqual([[report.runId, 'succeeded']])
    expect(JSON.parse(ckptIn(dir)('cat', 'strict-ocr:ocr', '--json'))).toBeDefined()

    const resumed = await http('POST', `${server.url}/api/runs/r1/resume`, {})
    expect(resumed.status, resumed.text).toBe(200)
    expect(resumed.body).toMatchObject({ runId: 'r1', status: 'succeeded', counts: { executed: 2, failed: 0 } })

    const unknownRun = await http('POST', `${server.url}/api/runs/nosuch/resume`, {})
    expect([unknownRun.status, (unknownRun.body as { code: string }).code]).toEqual([404, 'RUN_NOT_FOUND'])
    const unknown = await http('POST', `${server.url}/api/pipelines/nosuch/replay`, { stage: 'ocr' })
    expect([unknown.status, (unknown.body as { code: string }).code]).toEqual([404, 'NOT_FOUND'])
    const badStage = await http('POST', `${server.url}/api/pipelines/video-brand-detection/replay`, { stage: 'nosuch', run: 'r1', timeline: 'x' })
    expect(badStage.status).toBe(400)
    expect(ckpt(dir, ['rev-parse', 'x']).code).toBe(4)
  }, 90_000)
})

describe('ckpt serve: security', () => {
  it('with a token, every write needs it and reads do not; the comparison accepts only the exact token', async () => {
    const dir = populatedStore()
    const server = await startServe(dir, [], { CKPT_TOKEN: 's3cret-token' })
    const body = { name: 'guarded', at: 'main' }
    expect((await http('POST', `${server.url}/api/timelines`, body)).status).toBe(401)
    expect((await http('POST', `${server.url}/api/timelines`, body, { authorization: 'Bearer s3cret' })).status).toBe(401)
    expect((await http('POST', `${server.url}/api/timelines`, body, { authorization: 'Bearer s3cret-token-and-more' })).status).toBe(401)
    expect((await http('POST', `${server.url}/api/timelines`, body, { authorization: 's3cret-token' })).status).toBe(401)
    expect((await http('DELETE', `${server.url}/api/timelines/experiment?expected=x`)).status).toBe(401)
    expect(ckpt(dir, ['rev-parse', 'guarded']).code).toBe(4)
    expect((await http('GET', `${server.url}/api/status`)).status).toBe(200)
    const unauthorized = await http('POST', `${server.url}/api/commit`, { outputs: { a: 1 } })
    expect(unauthorized.body).toEqual({ code: 'UNAUTHORIZED', message: expect.any(String) })
    expect((await http('POST', `${server.url}/api/timelines`, body, { authorization: 'Bearer s3cret-token' })).status).toBe(201)
  }, 60_000)

  it('--read-only has no write endpoints at all', async () => {
    const dir = populatedStore()
    const server = await startServe(dir, ['--read-only', '--pipeline', PIPELINE])
    for (const [method, route, body] of [
      ['POST', '/api/timelines', { name: 'nope' }],
      ['POST', '/api/commit', { outputs: { a: 1 } }],
      ['POST', '/api/pipelines/video-brand-detection/replay', { stage: 'ocr' }],
      ['DELETE', '/api/timelines/experiment?expected=x', undefined],
    ] as const) {
      expect([route, (await http(method, server.url + route, body)).status]).toEqual([route, 404])
    }
    expect(ckpt(dir, ['rev-parse', 'nope']).code).toBe(4)
    expect((await http('GET', `${server.url}/api/timelines`)).status).toBe(200)
  }, 60_000)

  it('refuses to listen beyond loopback without a token, and listens there with one', async () => {
    const dir = populatedStore()
    const refused = ckpt(dir, ['serve', '--host', '0.0.0.0', '--port', '0'], { timeoutMs: 20_000 })
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain('--token')
    const server = await startServe(dir, ['--host', '0.0.0.0', '--token', 'team-token'])
    expect(server.url).toMatch(/^http:\/\//)
    const port = new URL(server.url).port
    expect((await http('GET', `http://127.0.0.1:${port}/api/status`)).status).toBe(200)
  }, 60_000)

  it('limits request bodies (413), sends a Content-Security-Policy, and no CORS unless --cors names the origin', async () => {
    const dir = populatedStore()
    const server = await startServe(dir)
    const huge = await http('POST', `${server.url}/api/commit`, { outputs: { big: 'x'.repeat(2 * 1024 * 1024) } })
    expect([huge.status, (huge.body as { code: string }).code]).toEqual([413, 'TOO_LARGE'])
    expect(ckpt(dir, ['cat', 'main:big']).code).toBe(4)
    const page = await fetch(`${server.url}/`)
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'")
    const crossOrigin = await fetch(`${server.url}/api/status`, { headers: { origin: 'https://evil.example' } })
    expect(crossOrigin.headers.get('access-control-allow-origin')).toBeNull()

    const shared = await startServe(dir, ['--cors', 'https://ci.example.com'])
    const allowed = await fetch(`${shared.url}/api/status`, { headers: { origin: 'https://ci.example.com' } })
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://ci.example.com')
    const other = await fetch(`${shared.url}/api/status`, { headers: { origin: 'https://evil.example' } })
    expect(other.headers.get('access-control-allow-origin')).not.toBe('https://evil.example')
  }, 60_000)
})

describe('ckpt serve: events', () => {
  it('streams a checkpoint committed by the CLI in another process within a second, and ref moves', async () => {
    const dir = populatedStore()
    const server = await startServe(dir)
    const events: StreamedEvent[] = []
    const stream = await openEvents(server.url, (e) => events.push(e))
    expect(stream.response.headers.get('content-type')).toMatch(/^text\/event-stream/)
    await new Promise((resolve) => setTimeout(resolve, 300))
    // The CLI runs as its own process and writes through the server's store (as a follower).
    const c = ckptIn(dir)
    c('commit', '-s', 'detect', '--json', '{"late":1}', '-m', 'from another terminal')
    const committed = { id: c('rev-parse', 'main') }
    const finishedAt = Date.now()
    const deadline = Date.now() + 5_000
    while (!events.some((e) => e.event === 'checkpoint' && e.data.id === committed.id) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    const seen = events.find((e) => e.event === 'checkpoint' && e.data.id === committed.id)
    expect(seen).toBeDefined()
    expect((seen as { at: number }).at - finishedAt).toBeLessThan(1000)
    expect(events.some((e) => e.event === 'ref' && e.data.ref === 'timelines/main' && e.data.to === committed.id)).toBe(true)

    c('timeline', 'branch-from-cli', 'main~2')
    const branchDeadline = Date.now() + 5_000
    while (!events.some((e) => e.event === 'ref' && e.data.ref === 'timelines/branch-from-cli') && Date.now() < branchDeadline) await new Promise((resolve) => setTimeout(resolve, 20))
    expect(events.some((e) => e.event === 'ref' && e.data.ref === 'timelines/branch-from-cli')).toBe(true)
    // A new timeline at an existing checkpoint announces no checkpoint as new.
    expect(events.filter((e) => e.event === 'checkpoint').map((e) => e.data.id)).toEqual([committed.id])
    await stream.close()
  }, 60_000)
})

describe('ckpt serve: stopping', () => {
  it('exits on SIGTERM while a browser holds an event stream open', async () => {
    const dir = populatedStore()
    const server = await startServe(dir)
    const stream = await fetch(`${server.url}/api/events`)
    expect(stream.status).toBe(200)
    const code = await Promise.race([server.stop(), new Promise((resolve) => setTimeout(() => resolve('still running after 5 s'), 5_000))])
    expect(code).toBe(0)
  }, 60_000)
})

describe('ckpt serve on PostgreSQL: several servers, one store', () => {
  it("a commit through one server is an event on the other's stream, and their compare-and-swaps exclude each other", async () => {
    const url = freshSchemaUrl()
    const dir = tempDir()
    ckptIn(dir)('--store', url, 'init')
    ckptIn(dir)('--store', url, 'commit', '-s', 'detect', '--json', '{"n":0}', '-m', 'start')
    const [a, b] = await Promise.all([startServe(dir, ['--store', url]), startServe(dir, ['--store', url])])
    const seen: StreamedEvent[] = []
    const stream = await openEvents(b.url, (e) => seen.push(e))
    await new Promise((resolve) => setTimeout(resolve, 300))
    const committed = await http('POST', `${a.url}/api/commit`, { stage: 'detect', outputs: { detect: { n: 1 } }, message: 'through a' })
    expect(committed.status).toBe(201)
    const id = (committed.body as { id: string }).id
    const sentAt = Date.now()
    const arrived = () => seen.some((e) => e.event === 'checkpoint' && e.data.id === id)
    while (!arrived() && Date.now() - sentAt < 5_000) await new Promise((resolve) => setTimeout(resolve, 20))
    expect(arrived()).toBe(true)
    expect(Date.now() - sentAt).toBeLessThan(1000)
    await stream.close()

    const start = ckptIn(dir)('--store', url, 'rev-parse', 'main~1')
    await http('POST', `${a.url}/api/timelines`, { name: 'shared', at: start })
    const moves = await Promise.all([a, b].map((server) => http('PUT', `${server.url}/api/timelines/shared`, { to: id, expected: start })))
    expect(moves.map((m) => m.status).sort()).toEqual([200, 409])
    // The loser's move was refused; a second move from the stale head is refused on either server.
    expect((await http('PUT', `${b.url}/api/timelines/shared`, { to: start, expected: start, force: true })).status).toBe(409)
    expect(ckptIn(dir)('--store', url, 'rev-parse', 'shared')).toBe(id)
  }, 60_000)
})

/**
 * A video brand-detection pipeline, modelled on real ones but with no model weights and no
 * network: each stage derives its results deterministically from the bytes it is given, so runs
 * are repeatable and outputs can be compared across configs.
 *
 * extract_frames → detect_objects ─┐
 *                → ocr ────────────┴→ match_brands → escalate_vlm → report
 */
import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Pipeline, StageDefinition } from '../../../src/index.js'

const LABELS = ['logo', 'bottle', 'car', 'person', 'sign']
const WORDS = ['ACME', 'GLOBEX', 'INITECH', 'SALE', 'OPEN', 'ACNE']

/** A repeatable number in [0, 1) from some bytes and a salt. */
function score(bytes: Uint8Array, salt: string): number {
  return createHash('sha256').update(bytes).update(salt).digest().readUInt32BE(0) / 2 ** 32
}

const round = (x: number) => Math.round(x * 1000) / 1000

const extractFrames: StageDefinition = {
  name: 'extract_frames',
  label: 'Extract frames',
  description: 'Cuts the video into still frames at the configured rate.',
  category: 'ingest',
  reads: ['video'],
  writes: ['frames'],
  version: '1',
  config: [
    { name: 'fps', type: 'int', default: 2, min: 1, max: 30, description: 'Frames per second to keep' },
    { name: 'max_frames', type: 'int', default: 8, min: 1, max: 1000, description: 'Upper bound on frames' },
  ],
  async run(state, config) {
    const video = state.video as Uint8Array
    const count = Math.min(Number(config.max_frames), Math.max(1, Math.floor((video.length / 4096) * Number(config.fps))))
    const size = Math.floor(video.length / count)
    return { frames: Array.from({ length: count }, (_, i) => video.slice(i * size, (i + 1) * size)) }
  },
}

const detectObjects: StageDefinition = {
  name: 'detect_objects',
  label: 'Detect objects',
  description: 'Finds objects in each frame and keeps those above the threshold.',
  category: 'vision',
  reads: ['frames'],
  writes: ['detections'],
  version: '1',
  config: [
    { name: 'threshold', type: 'float', default: 0.5, min: 0, max: 1, description: 'Minimum detection score' },
    { name: 'model', type: 'str', default: 'yolo-s', options: ['yolo-s', 'yolo-m'], description: 'Detector size' },
  ],
  async run(state, config) {
    const frames = state.frames as Uint8Array[]
    const detections = frames.flatMap((frame, i) =>
      LABELS.map((label) => ({ frame: i, label, score: round(score(frame, `${config.model}:${label}`)) })).filter((d) => d.score >= Number(config.threshold)),
    )
    return { detections }
  },
}

const ocr: StageDefinition = {
  name: 'ocr',
  label: 'Read text',
  description: 'Reads text in each frame. Its (simulated) OCR service stalls on the first request of a run; a timeout and a retry get past it.',
  category: 'vision',
  reads: ['frames'],
  writes: ['texts'],
  version: '1',
  timeout: 250,
  retries: 2,
  backoff: { initialMs: 50 },
  config: [
    { name: 'lang', type: 'str', default: 'en', options: ['en', 'de', 'fr'], description: 'Language model' },
    { name: 'min_confidence', type: 'float', default: 0.6, min: 0, max: 1, description: 'Drop readings below this' },
    { name: 'stall_first_attempt', type: 'bool', default: true, description: 'The service stalls on the first request of a run' },
  ],
  async run(state, config, ctx) {
    const frames = state.frames as Uint8Array[]
    ctx.log(`reading ${frames.length} frames (lang ${String(config.lang)}), attempt ${ctx.attempt}`)
    if (config.stall_first_attempt === true && ctx.attempt === 1) {
      ctx.log('the OCR service is not answering')
      await sleep(5_000, undefined, { signal: ctx.signal }) // the stage's timeout aborts the signal
    }
    const texts = frames.flatMap((frame, i) =>
      WORDS.map((text) => ({ frame: i, text, confidence: round(score(frame, `${config.lang}:${text}`)) })).filter((t) => t.confidence >= Number(config.min_confidence)),
    )
    return { texts }
  },
}

const matchBrands: StageDefinition = {
  name: 'match_brands',
  label: 'Match brands',
  description: 'Joins logo detections with text readings against the brand list.',
  category: 'analysis',
  reads: ['detections', 'texts'],
  writes: ['matches'],
  version: '1',
  config: [
    { name: 'brands', type: 'list[str]', default: ['ACME', 'GLOBEX', 'INITECH'], description: 'Brands to look for' },
    { name: 'fuzzy', type: 'bool', default: true, description: 'Accept one-letter misspellings' },
  ],
  async run(state, config) {
    const brands = config.brands as string[]
    const near = (a: string, b: string) => a === b || (config.fuzzy === true && a.length === b.length && [...a].filter((c, i) => c !== b[i]).length === 1)
    const logos = new Set((state.detections as Array<{ frame: number; label: string }>).filter((d) => d.label === 'logo').map((d) => d.frame))
    const matches = (state.texts as Array<{ frame: number; text: string; confidence: number }>).flatMap((t) => {
      const brand = brands.find((b) => near(b, t.text))
      return brand ? [{ frame: t.frame, brand, read: t.text, withLogo: logos.has(t.frame), confidence: t.confidence }] : []
    })
    return { matches }
  },
}

const escalateVlm: StageDefinition = {
  name: 'escalate_vlm',
  label: 'Escalate to a VLM',
  description: 'Asks a (simulated) vision-language model to confirm uncertain matches. Slow, and flaky on its first attempt.',
  category: 'analysis',
  reads: ['matches'],
  writes: ['verdicts'],
  version: '1',
  config: [
    { name: 'model', type: 'str', default: 'vlm-large', options: ['vlm-small', 'vlm-large'], description: 'Model to ask' },
    { name: 'latency_ms', type: 'int', default: 300, min: 0, max: 10_000, description: 'Simulated response time' },
    { name: 'fail_first_attempt', type: 'bool', default: true, description: 'Time out on the first attempt, as the real service often does' },
  ],
  async run(state, config, ctx) {
    await sleep(Number(config.latency_ms))
    if (config.fail_first_attempt === true && ctx.attempt === 1) throw new Error(`${config.model} timed out after ${config.latency_ms} ms`)
    const verdicts = (state.matches as Array<{ frame: number; brand: string; withLogo: boolean; confidence: number }>).map((m) => ({
      frame: m.frame,
      brand: m.brand,
      confirmed: m.withLogo || m.confidence > 0.8,
    }))
    return { verdicts }
  },
}

const report: StageDefinition = {
  name: 'report',
  label: 'Report',
  description: 'Summarizes confirmed brand appearances.',
  category: 'output',
  reads: ['verdicts', 'video_name'],
  writes: ['report'],
  version: '1',
  async run(state) {
    const verdicts = state.verdicts as Array<{ frame: number; brand: string; confirmed: boolean }>
    const brands: Record<string, number[]> = {}
    for (const v of verdicts.filter((x) => x.confirmed)) (brands[v.brand] ??= []).push(v.frame)
    return { report: { video: state.video_name, brands, flagged: Object.keys(brands).length > 0, checked: verdicts.length } }
  },
}

export const stages = [extractFrames, detectObjects, ocr, matchBrands, escalateVlm, report]

export const pipeline: Pipeline = { name: 'video-brand-detection', inputs: ['video', 'video_name'], stages }

export default pipeline

/** A stand-in video: deterministic bytes, so every run sees the same input. */
export function sampleVideo(bytes = 64 * 1024): Uint8Array {
  const out = new Uint8Array(bytes)
  let x = 2463534242
  for (let i = 0; i < bytes; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

/** What `ckpt run pipeline.js` uses when no --inputs are given. */
export function defaultInputs(): { video: Uint8Array; video_name: string } {
  return { video: sampleVideo(), video_name: 'ad.mp4' }
}

import { stat } from 'node:fs/promises'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { CkptError } from '../errors.js'
import type { Pipeline, PipelineState } from './types.js'

/** A pipeline file's exports: the pipeline, and the inputs it runs on by default. */
export interface PipelineModule {
  readonly pipeline: Pipeline
  readonly inputs?: PipelineState
}

/**
 * Loads `file`: a JavaScript module exporting a pipeline (default export or `pipeline`) and
 * optionally `inputs` or `defaultInputs()`. Used by `ckpt run` and by `ckpt serve --pipeline`.
 */
export async function loadPipelineModule(file: string): Promise<PipelineModule> {
  const resolved = path.resolve(file)
  const found = await stat(resolved).catch(() => undefined)
  if (!found?.isFile()) throw new CkptError('NOT_FOUND', `pipeline file ${file}: ${found ? 'not a file' : 'no such file'}`, { details: { path: file } })
  const mod = (await import(pathToFileURL(resolved).href).catch((cause: unknown) => {
    throw new CkptError('INVALID_ARGUMENT', `cannot load pipeline file ${file}: ${(cause as Error).message}`, { cause })
  })) as { default?: unknown; pipeline?: unknown; inputs?: unknown; defaultInputs?: () => unknown }
  const pipeline = (mod.pipeline ?? mod.default) as Pipeline | undefined
  if (!pipeline || !Array.isArray(pipeline.stages)) throw new CkptError('INVALID_ARGUMENT', `${file} exports no pipeline (export default { name, stages } or export const pipeline)`)
  const inputs = (typeof mod.defaultInputs === 'function' ? mod.defaultInputs() : mod.inputs) as PipelineState | undefined
  return { pipeline, ...(inputs && { inputs }) }
}

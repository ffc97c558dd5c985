import { spawn, type ChildProcess } from 'node:child_process'
import { CKPT } from './cli.js'
import { onCleanup } from './temp.js'

/** A `ckpt serve` running as its own process. */
export interface ServeProcess {
  readonly url: string
  readonly process: ChildProcess
  /** Everything it printed on stderr so far. */
  stderr(): string
  /** SIGTERM, and waits for it to exit; returns its exit code. */
  stop(): Promise<number | null>
}

/**
 * Starts the built `ckpt serve --port 0 ARGS…` in `cwd` (whose store it serves unless ARGS say
 * `--store`) as a real child process, and waits for the URL it prints. Stopped after the test,
 * unless `shared` (one server for a whole describe block: the caller stops it in afterAll).
 */
export async function startServe(cwd: string, args: string[] = [], env: Record<string, string> = {}, { shared = false } = {}): Promise<ServeProcess> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...env }
  delete childEnv.CKPT_DIR
  if (env.CKPT_DIR) childEnv.CKPT_DIR = env.CKPT_DIR
  const child = spawn(process.execPath, [CKPT, 'serve', '--port', '0', ...args], { cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ckpt serve did not start within 20 s: ${stderr}`)), 20_000)
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text
      const found = /ckpt serve: (http:\/\/\S+?) /.exec(stderr)
      if (found?.[1]) {
        clearTimeout(timer)
        resolve(found[1])
      }
    })
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`ckpt serve exited with ${code} before listening: ${stderr}`))
    })
  })
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    return exited
  }
  if (!shared) onCleanup(async () => void (await stop()))
  return { url, process: child, stderr: () => stderr, stop }
}

/** One HTTP request with a JSON body (when given); answers the status, headers and parsed JSON (or text). */
export async function http(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: unknown; text: string }> {
  const response = await fetch(url, {
    method,
    headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...headers },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  })
  const text = await response.text()
  let parsed: unknown = text
  try {
    parsed = JSON.parse(text)
  } catch {
    // not JSON: the text itself
  }
  return { status: response.status, headers: response.headers, body: parsed, text }
}

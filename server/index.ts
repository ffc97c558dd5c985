/**
 * `ckpt serve` as a library: an HTTP API over a ckpt store and the browser view, for pipelines
 * in other languages and for teams in a browser (docs/server.md). The CLI's `serve` command is
 * a thin layer over {@link startServer}.
 */
export { buildServer, startServer, isLoopback, type RunningServer } from './app.js'
export type { ServeOptions } from './context.js'
export { HTTP_STATUS, type ServerErrorCode } from './errors.js'

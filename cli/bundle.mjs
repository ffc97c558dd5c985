// Bundles the `ckpt` command into dist/cli/main.js (the package's bin), over tsc's unbundled copy.
//
// Start-up time is mostly Node's module loader: `ckpt status` loaded about 160 modules of ours,
// each resolved, read and compiled on its own, which cost more than the command's work
// (docs/performance.md, "CLI start-up"). One bundle, split where the code loads lazily (the
// server, CAR files), loads a few files instead. Packages stay outside: their native parts
// (LevelDB) cannot be bundled, and a pipeline module that imports a package gets the same copy.
//
// Our modules that find files beside themselves (worker threads, the browser view, the command
// list for completion) read `import.meta.url`; in the bundle each still sees its own file's place
// in dist/, where tsc's copy of every module, worker modules included, stays.
import { build } from 'esbuild'
import { readFile, readdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const outdir = path.join(root, 'dist/cli')
const CHUNK_PREFIX = 'bundle-'

for (const file of await readdir(outdir)) if (file.startsWith(CHUNK_PREFIX)) await rm(path.join(outdir, file))

/** `import.meta.url` of `source` as it would be for tsc's output of it, written relative to the bundle's folder. */
const ownUrl = (source) => {
  const compiled = path.join(root, 'dist', path.relative(root, source).replace(/\.ts$/, '.js'))
  return `new URL(${JSON.stringify(path.relative(outdir, compiled))}, import.meta.url).href`
}

await build({
  entryPoints: { main: path.join(root, 'cli/main.ts') },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  chunkNames: `${CHUNK_PREFIX}[hash]`,
  sourcemap: true,
  logLevel: 'warning',
  plugins: [
    {
      name: 'own-module-urls',
      setup(bundler) {
        bundler.onLoad({ filter: /\.ts$/ }, async ({ path: source }) => {
          const text = await readFile(source, 'utf8')
          return { contents: text.replaceAll('import.meta.url', ownUrl(source)), loader: 'ts' }
        })
      },
    },
  ],
})

import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'
import type { Backend } from '../backend/interface.js'

/*
 * The other process of the conformance suite's cross-process cases (conformance.ts). Run as
 * `node peer.js <module> <export> <location>`: opens the store with the module's export, then
 * answers one JSON command per stdin line with one JSON line on stdout. Keys are arrays of bytes;
 * each stored value is its key's bytes.
 */

export type PeerRequest =
  | { readonly op: 'get'; readonly key: number[] }
  | { readonly op: 'has'; readonly keys: number[][] }
  | { readonly op: 'put'; readonly keys: number[][] }
  | { readonly op: 'ref'; readonly name: string; readonly value: string; readonly objects: number[][]; readonly requires: number[][][] }

export type PeerCommand = PeerRequest & { readonly id: number }

export type PeerReply = { readonly id: number; readonly ok: true; readonly result: unknown } | { readonly id: number; readonly ok: false; readonly error: string }

async function answer(backend: Backend, command: PeerCommand): Promise<unknown> {
  const bytes = (key: number[]) => Uint8Array.from(key)
  switch (command.op) {
    case 'get': {
      const value = await backend.objects.get(bytes(command.key))
      return value && [...value]
    }
    case 'has':
      return backend.objects.has(command.keys.map(bytes))
    case 'put':
      return backend.objects.putMany(command.keys.map((key) => ({ key: bytes(key), value: bytes(key) })))
    case 'ref':
      return backend.refs.updateRefs(
        [{ name: command.name, expected: null, value: command.value, log: { time: Date.now(), reason: 'peer' } }],
        command.objects.map((key) => ({ key: bytes(key), value: bytes(key) })),
        command.requires.map((group) => group.map(bytes)),
      )
  }
}

async function main([module, exportName, location]: string[]): Promise<void> {
  const opener = (await import(pathToFileURL(module!).href)) as Record<string, (location: string) => Promise<Backend>>
  const backend = await opener[exportName!]!(location!)
  const reply = (message: PeerReply | { ready: true }) => process.stdout.write(`${JSON.stringify(message)}\n`)
  reply({ ready: true })
  const lines = createInterface({ input: process.stdin })
  const pending: Array<Promise<unknown>> = []
  for await (const line of lines) {
    const command = JSON.parse(line) as PeerCommand
    pending.push(
      answer(backend, command).then(
        (result) => reply({ id: command.id, ok: true, result: result ?? null }),
        (err: unknown) => reply({ id: command.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
      ),
    )
  }
  await Promise.all(pending)
  await backend.close()
}

await main(process.argv.slice(2))

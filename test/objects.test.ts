import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import { collect, tempStore } from './support/temp.js'
import { BLAKE3_VECTORS, vectorInput } from './support/blake3-vectors.js'

const digestHex = (id: string) => Buffer.from(CID.parse(id).multihash.digest).toString('hex')

describe('object ids', () => {
  it.each(BLAKE3_VECTORS)('names %i bytes by their BLAKE3 reference digest', async (length, expected) => {
    const { store } = await tempStore()
    const id = await store.putBlob(vectorInput(length))
    const cid = CID.parse(id)
    expect(cid.version).toBe(1)
    expect(cid.code).toBe(0x55)
    expect(cid.multihash.code).toBe(0x1e)
    expect(digestHex(id)).toBe(expected)
  })

  it('hashes a streamed blob to the same id as the whole bytes', async () => {
    const { store } = await tempStore()
    const input = vectorInput(102400)
    async function* pieces() {
      for (let i = 0; i < input.length; i += 7000) yield input.subarray(i, i + 7000)
    }
    const id = await store.putBlobStream(pieces())
    expect(digestHex(id)).toBe(BLAKE3_VECTORS.at(-1)?.[1])
    expect(await store.putBlob(input)).toBe(id)
    expect(await store.getBlob(id)).toEqual(input)
    const streamed: Buffer[] = []
    for await (const piece of store.getBlobStream(id)) streamed.push(Buffer.from(piece as Uint8Array))
    expect(new Uint8Array(Buffer.concat(streamed))).toEqual(input)
  })

  it('gives a bytes stage output the id b3sum would print for the file', async () => {
    const { store } = await tempStore()
    await store.commit({ stage: 'frames', output: vectorInput(1024) })
    const id = await store.resolve('HEAD:frames')
    expect(digestHex(id)).toBe('42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7')
  })

  it('names structured outputs with dag-json CIDs', async () => {
    const { store } = await tempStore()
    const cid = CID.parse(await store.putOutput({ a: 1 }))
    expect(cid.code).toBe(0x0129)
    expect(cid.multihash.code).toBe(0x1e)
  })

  it('stores an output written twice once', async () => {
    const { store } = await tempStore()
    const value = { detections: [{ label: 'cat', score: 0.5 }], frame: new Uint8Array([1, 2, 3]) }
    await store.commit({ stage: 'detect', output: value })
    const before = await collect(store.objects())
    await store.commit({ stage: 'detect', output: structuredClone(value) })
    const after = await collect(store.objects())
    // Only the second checkpoint node is new: the output node and its blob are shared.
    expect(after.length).toBe(before.length + 1)
    expect(await store.resolve('HEAD:detect')).toBe(await store.resolve('HEAD~1:detect'))
  })

  it('encodes canonically: key order does not change the id', async () => {
    const { store } = await tempStore()
    const a = await store.putOutput({ b: 1, a: { y: [1, 2], x: 'z' } })
    const b = await store.putOutput({ a: { x: 'z', y: [1, 2] }, b: 1 })
    expect(a).toBe(b)
  })

  it('round-trips bytes anywhere inside an output', async () => {
    const { store } = await tempStore()
    const frames = [new Uint8Array([0, 255, 7]), new Uint8Array(0), Buffer.from('png')]
    const output = { frames, nested: { deep: [{ raw: new Uint8Array([42]) }] }, count: 3 }
    await store.commit({ stage: 'extract', output })
    const restored = await store.getOutput('HEAD:extract')
    expect(restored).toEqual({
      frames: [new Uint8Array([0, 255, 7]), new Uint8Array(0), new Uint8Array(Buffer.from('png'))],
      nested: { deep: [{ raw: new Uint8Array([42]) }] },
      count: 3,
    })
    const kinds = (await collect(store.objects())).map((o) => o.kind)
    expect(kinds.filter((k) => k === 'bytes').length).toBe(4)
  })
})

import { cidOf, type CID, type Codec } from '../model/cid.js'

/** A block ready to store: its CID and exact bytes. */
export interface Block {
  readonly cid: CID
  readonly bytes: Uint8Array
}

/** Encodes a block, computing its CID. */
export function makeBlock(codec: Codec, bytes: Uint8Array): Block {
  return { cid: cidOf(codec, bytes), bytes }
}

import { validate } from '@langchain/langgraph-checkpoint-validation'
import { CkptSaver } from '../../src/langgraph/index.js'
import { createMemoryBackend, initStoreOn } from '../../src/index.js'

// LangGraph's own conformance suite, under the checkpointer name "ckpt" (so none of it is skipped).
validate({
  checkpointerName: 'ckpt',
  createCheckpointer: async () => new CkptSaver(await initStoreOn(createMemoryBackend())),
  destroyCheckpointer: async (saver) => saver.store.close(),
})

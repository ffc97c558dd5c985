import { validate } from '@langchain/langgraph-checkpoint-validation'
import { CkptSaver } from '../../src/langgraph/index.js'
import { initStore } from '../../src/index.js'
import { freshSchemaUrl } from '../support/postgres.js'

// LangGraph's own conformance suite on a store in PostgreSQL, each checkpointer in a schema of its own.
validate({
  checkpointerName: 'ckpt',
  createCheckpointer: async () => new CkptSaver(await initStore(freshSchemaUrl())),
  destroyCheckpointer: async (saver) => saver.store.close(),
})

/** ckpt as LangGraph's checkpointer: `import { CkptSaver } from 'ckpt/langgraph'`. */
export { CkptSaver } from './saver.js'

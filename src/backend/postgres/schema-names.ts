/** Advisory lock ids (two-int form: the schema's hash, then one of these). */
export const LOCK = { init: 0, turn: 1, gate: 2 } as const

/** Schema-qualified names, safe to put in SQL: the schema name is checked by the URL parser. */
export function tableNames(schema: string) {
  const q = (name: string) => `"${schema}".${name}`
  return {
    meta: q('ckpt_meta'),
    objects: q('objects'),
    refs: q('refs'),
    reflog: q('reflog'),
    touches: q('touches'),
    enter: q('ckpt_enter'),
    get: q('ckpt_get'),
    has: q('ckpt_has'),
    put: q('ckpt_put'),
    store: q('ckpt_store'),
    updateRefs: q('ckpt_update_refs'),
  }
}

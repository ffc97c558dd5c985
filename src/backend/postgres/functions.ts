import { LOCK, tableNames } from './schema-names.js'

/** Version 2's functions whose arguments or results version 3 changed (a new signature is another function). */
export const FUNCTIONS_BEFORE_V3 = ['ckpt_get(bytea[])', 'ckpt_put(bytea[], bytea[])', 'ckpt_store(bytea[], bytea[])', 'ckpt_update_refs(text[], text[], text[], bigint[], text[], uuid, bytea[], bytea[], bytea[], int[])']

/**
 * The schema's functions. Each object read, probe and write and each ref update is one call of
 * one of them: one round trip to the server, where the same statements sent one by one cost four
 * to six (docs/benchmarks.md, "PostgreSQL"). Every one begins with `ckpt_enter`, the sweep gate
 * (docs/backends.md, "PostgreSQL: sweeps"); they are VOLATILE, so each statement after it takes a
 * new snapshot and sees what a sweep deleted while the caller waited at the gate.
 */

export function functionStatements(schema: string, lockKey: number): string[] {
  const t = tableNames(schema)
  return [
    `CREATE OR REPLACE FUNCTION ${t.enter}(keys bytea[], ref_values text[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock_shared(${lockKey}, ${LOCK.gate});
  IF NOT pg_try_advisory_xact_lock_shared(${lockKey}, ${LOCK.turn}) THEN
    INSERT INTO ${t.touches} (key) SELECT k FROM unnest(keys) AS k;
    INSERT INTO ${t.touches} (ref_value) SELECT v FROM unnest(ref_values) AS v WHERE v IS NOT NULL;
  END IF;
END $$`,
    `CREATE OR REPLACE FUNCTION ${t.get}(keys bytea[]) RETURNS TABLE (k bytea, v bytea, n int) LANGUAGE plpgsql AS $$
BEGIN
  PERFORM ${t.enter}(keys, '{}');
  RETURN QUERY SELECT o.key, o.value, o.raw_size FROM ${t.objects} o WHERE o.key = ANY(keys);
END $$`,
    `CREATE OR REPLACE FUNCTION ${t.has}(keys bytea[]) RETURNS SETOF bytea LANGUAGE plpgsql AS $$
BEGIN
  PERFORM ${t.enter}(keys, '{}');
  RETURN QUERY SELECT o.key FROM ${t.objects} o WHERE o.key = ANY(keys);
END $$`,
    // A rewritten key keeps its stored bytes when they are equal (assigning the old value keeps its
    // TOAST pointer, so a re-sent chunk is not written again), and takes the new ones otherwise, as
    // LevelDB does. Keys come sorted, so two writers of the same keys lock them in one order.
    // ckpt_store is the write alone, for the functions that have passed the gate already. raw_sizes:
    // the length of each value as written when it comes compressed, else NULL (value-bytes.ts).
    `CREATE OR REPLACE FUNCTION ${t.store}(keys bytea[], vals bytea[], raw_sizes int[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ${t.objects} AS o (key, value, raw_size, written_at)
    SELECT u.k, u.v, u.n, (extract(epoch from clock_timestamp()) * 1000)::bigint FROM unnest(keys, vals, raw_sizes) AS u(k, v, n)
    ON CONFLICT (key) DO UPDATE SET written_at = EXCLUDED.written_at, raw_size = EXCLUDED.raw_size,
      value = CASE WHEN octet_length(o.value) = octet_length(EXCLUDED.value) AND o.value = EXCLUDED.value THEN o.value ELSE EXCLUDED.value END;
END $$`,
    `CREATE OR REPLACE FUNCTION ${t.put}(keys bytea[], vals bytea[], raw_sizes int[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM ${t.enter}(keys, '{}');
  PERFORM ${t.store}(keys, vals, raw_sizes);
END $$`,
    // updateRefs in one call: the gate; each group of \`required\` (sizes in \`group_sizes\`) must
    // have a key stored or among \`keys\`; the objects; then each compare-and-swap and its reflog row.
    // A conflict or a missing group raises CK001 or CK002, so the whole call rolls back.
    `CREATE OR REPLACE FUNCTION ${t.updateRefs}(names text[], expected text[], vals text[], times bigint[], reasons text[], txn uuid,
    keys bytea[], objs bytea[], raw_sizes int[], required bytea[], group_sizes int[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  stored bytea[];
  first int := 1;
  g int;
  i int;
  done boolean;
  actual text;
BEGIN
  PERFORM ${t.enter}(keys || required, vals);
  IF cardinality(group_sizes) > 0 THEN
    SELECT coalesce(array_agg(s.key), '{}') || keys INTO stored FROM (SELECT o.key FROM ${t.objects} o WHERE o.key = ANY(required) FOR SHARE) s;
    FOR g IN 1 .. cardinality(group_sizes) LOOP
      IF NOT required[first : first + group_sizes[g] - 1] && stored THEN
        RAISE EXCEPTION USING ERRCODE = 'CK002', MESSAGE = 'a required object is not stored', DETAIL = g::text;
      END IF;
      first := first + group_sizes[g];
    END LOOP;
  END IF;
  IF cardinality(keys) > 0 THEN
    PERFORM ${t.store}(keys, objs, raw_sizes);
  END IF;
  FOR i IN 1 .. coalesce(cardinality(names), 0) LOOP
    IF expected[i] IS NULL AND vals[i] IS NULL THEN
      PERFORM 1 FROM ${t.refs} r WHERE r.name = names[i] FOR UPDATE;
      done := NOT FOUND;
    ELSIF expected[i] IS NULL THEN
      INSERT INTO ${t.refs} (name, value) VALUES (names[i], vals[i]) ON CONFLICT (name) DO NOTHING;
      done := FOUND;
    ELSIF vals[i] IS NULL THEN
      DELETE FROM ${t.refs} r WHERE r.name = names[i] AND r.value = expected[i];
      done := FOUND;
    ELSE
      UPDATE ${t.refs} r SET value = vals[i] WHERE r.name = names[i] AND r.value = expected[i];
      done := FOUND;
    END IF;
    IF NOT done THEN
      SELECT r.value INTO actual FROM ${t.refs} r WHERE r.name = names[i];
      RAISE EXCEPTION USING ERRCODE = 'CK001', MESSAGE = 'a ref moved concurrently', DETAIL = json_build_object('name', names[i], 'actual', actual)::text;
    END IF;
    INSERT INTO ${t.reflog} (name, old, new, time, reason, txn) VALUES (names[i], expected[i], vals[i], times[i], reasons[i], txn);
  END LOOP;
END $$`,
  ]
}

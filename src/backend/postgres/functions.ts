// The functions of an annals schema, in PL/pgSQL: what an append does under the lock of the head
// row, in one round trip where it can (see writer.ts and docs/postgres.md "Many writers").
//
// In READ COMMITTED each statement of a (volatile) function takes a new snapshot: the checks
// that follow `select ... for update` on the head row see every transaction that committed
// before the lock was granted. Commits happen with the lock held, so positions are handed out
// in commit order, without gaps, and commit times never decrease with them.
//
// Errors raised here carry SQLSTATEs of class AN (see errors.ts in this folder).
import { createHash } from 'node:crypto'

/** The columns of an event's row, in the order the writer's arrays give them. */
const EVENT_PARAMS = `p_stream text[], p_revision bigint[], p_id text[], p_type text[], p_version integer[],
  p_tag_from integer[], p_tag_to integer[], p_data bytea[], p_metadata bytea[], p_sealed boolean[], p_digest bytea[], p_sum integer[],
  p_tags text[], p_tag_rows integer[], p_w_stream text[], p_w_revision bigint[], p_w_last integer[]`

/**
 * Writes the events (from position v_first, at time v_time), their tags and their streams' rows;
 * moves the head past them (and records p_owner, the process that ran inline projections, if any)
 * and tells every listening process of the commit. `loose`: the revisions of the streams in
 * v_moved are moved on by v_by (the stream's events and row), and each event's checksum is the
 * one of p_sum (p_spread an event) for its revision.
 */
function insertEvents (s: string, loose: boolean): string {
  // what a loose call adds: each event's and stream's move (m.d), the checksum for its revision
  const moved = (stream: string): string => loose ? ` left join unnest(v_moved, v_by) as m(s, d) on m.s = ${stream}` : ''
  const by = loose ? ' + coalesce(m.d, 0)' : ''
  return `
    insert into ${s}.events (position, stream, revision, id, type, version, tags, data, metadata, sealed, digest, time, sum)
      select v_first + x.o - 1, x.s, x.r${by}, x.i, x.ty, x.v, case when x.tf <= x.tt then p_tags[x.tf:x.tt] end, x.d, x.m, x.se, x.dg, v_time,${loose
        ? '\n          p_sum[(x.o - 1) * p_spread + coalesce(m.d, 0) + 1]'
        : ' x.su'}
      from unnest(p_stream, p_revision, p_id, p_type, p_version, p_tag_from, p_tag_to, p_data, p_metadata, p_sealed, p_digest${loose ? '' : ', p_sum'})
        with ordinality as x(s, r, i, ty, v, tf, tt, d, m, se, dg${loose ? '' : ', su'}, o)${moved('x.s')};
    if cardinality(p_tags) > 0 then
      insert into ${s}.event_tags (tag, position) select y.g, v_first + y.r - 1 from unnest(p_tags, p_tag_rows) as y(g, r);
    end if;
    insert into ${s}.streams (stream, revision, position, time)
      select w.s, w.r${by}, v_first + w.l, v_time from unnest(p_w_stream, p_w_revision, p_w_last) as w(s, r, l)${moved('w.s')}
      on conflict (stream) do update set revision = excluded.revision, position = excluded.position, time = excluded.time;
    update ${s}.head set position = v_first + v_n - 1, time = v_time,
      hook_owner = coalesce(p_owner, hook_owner),
      hook_position = case when p_owner is null then hook_position else v_first + v_n - 1 end;
    perform pg_notify(p_channel, 'c' || v_first || ':' || (v_first + v_n - 1) || ':' || v_time);`
}

/** Writes of the key spaces: deletes, then puts (each key once: the writer kept the last write of each). */
function kvWrites (s: string): string {
  return `
      if cardinality(p_del_k) > 0 then
        delete from ${s}.kv where k = any(p_del_k);
      end if;
      if cardinality(p_put_k) > 0 then
        insert into ${s}.kv (k, v, doc) select a.k, a.v, a.d::jsonb from unnest(p_put_k, p_put_v, p_put_doc) as a(k, v, d)
          on conflict (k) do update set v = excluded.v, doc = excluded.doc;
      end if;`
}

/**
 * The statements of the append functions are the same for every call: planned once per session
 * (a custom plan per call, which the plan cache may keep choosing for arrays of parameters, costs
 * more than running them; measured in docs/benchmarks.md, "PostgreSQL append path").
 */
const GENERIC = 'set plan_cache_mode = force_generic_plan'

/** What `append` and `append_one` answer, and the start of their bodies: the same for both. */
const ANSWER = `returns table (o_first bigint, o_time bigint, o_stale text, o_actual bigint)
    language plpgsql ${GENERIC} as $$
    #variable_conflict use_column
    declare
      v_first bigint;
      v_time bigint;`

const NOW_MS = 'floor(extract(epoch from clock_timestamp()) * 1000)::bigint'

/** The functions, for a schema whose quoted name is `s`. */
export function functionsSql (s: string): string[] {
  return [
    // The whole append in one call, when the writer could check it from what it knows (the
    // revisions it cached, ids it generated): takes the lock, checks that the revisions it
    // assumed are the stored ones and that the ids it was given are not stored yet, then writes.
    // With the append hook (inline projections), the hook saw the events at positions from
    // p_head + 1 and at time p_time: the head must be there still, and no process other than
    // p_owner must have run inline projections since p_opened (the head when it opened).
    // A stream of p_loose (written without an expected revision) found up to p_spread - 1
    // revisions further on than assumed is written there, each event with the checksum for its
    // revision (p_sum holds p_spread of them an event), and named after the first row of the
    // answer with how far it moved (o_stale, o_actual).
    // Rows with o_first null and o_stale name streams whose revision was not the one assumed; a row with o_first
    // null says why else nothing was written (o_actual: 1 an id is stored, 2 the head moved,
    // 3 another process ran inline projections, 4 a stream has a rule of its life, made by a
    // process that may not have told this one yet): then the writer checks under the lock itself.
    `create or replace function ${s}.append(p_streams text[], p_befores bigint[], p_ids text[],
      p_head bigint, p_time bigint, p_owner text, p_opened bigint, ${EVENT_PARAMS},
      p_put_k bytea[], p_put_v bytea[], p_put_doc text[], p_del_k bytea[], p_channel text, p_rule_keys bytea[],
      p_loose text[], p_spread integer)
    ${ANSWER}
      v_owner text;
      v_owner_position bigint;
      v_n integer := coalesce(cardinality(p_stream), 0);
      v_row record;
      v_stale boolean := false;
      v_moved text[] := '{}';
      v_by bigint[] := '{}';
    begin
      select h.position + 1, h.time, h.hook_owner, h.hook_position into v_first, v_time, v_owner, v_owner_position from ${s}.head h for update;
      -- each stream's row through its key (a join's generic plan scans the whole table); a loose
      -- stream found up to p_spread - 1 further on than assumed is moved on, any other is stale
      for v_row in select a.s, a.r, coalesce((select b.revision from ${s}.streams b where b.stream = a.s), -1) as c
          from unnest(p_streams, p_befores) as a(s, r) loop
        if v_row.c = v_row.r then
          continue;
        elsif v_row.c > v_row.r and v_row.c - v_row.r < p_spread and v_row.s = any(p_loose) then
          v_moved := v_moved || v_row.s;
          v_by := v_by || (v_row.c - v_row.r);
        else
          v_stale := true;
          return query select null::bigint, null::bigint, v_row.s, v_row.c;
        end if;
      end loop;
      if v_stale then return; end if;
      if cardinality(p_ids) > 0 and exists (select 1 from ${s}.events e where e.id = any(p_ids)) then
        return query select null::bigint, null::bigint, null::text, 1::bigint;
        return;
      end if;
      if cardinality(p_rule_keys) > 0 and exists (select 1 from ${s}.kv r where r.k = any(p_rule_keys)) then
        return query select null::bigint, null::bigint, null::text, 4::bigint;
        return;
      end if;
      if p_head is not null and (v_first <> p_head + 1 or v_time > p_time) then
        return query select null::bigint, null::bigint, null::text, 2::bigint;
        return;
      end if;
      if p_owner is not null and v_owner is not null and v_owner <> p_owner and v_owner_position > p_opened then
        return query select null::bigint, null::bigint, null::text, 3::bigint;
        return;
      end if;
      if v_n > 0 then
        v_time := coalesce(p_time, greatest(v_time, ${NOW_MS}));
        ${insertEvents(s, true)}
      end if;
      ${kvWrites(s)}
      return query select v_first, v_time, null::text, null::bigint;
      return query select v_first, v_time, m.s, m.d from unnest(v_moved, v_by) as m(s, d);
    end $$`,

    // The one call of a group of one event without the append hook (the awaited append), with
    // scalar parameters: the same checks and writes as `append` for that case, each a statement
    // on one row by its key (p_before: the stream's revision assumed, -1 for none; p_check_id:
    // whether p_id was given by the caller, and must not be stored yet; p_rule_key: the key of
    // the stream's rule of its life, which must not exist). Answers as `append` does.
    `create or replace function ${s}.append_one(p_stream text, p_before bigint, p_id text, p_type text, p_version integer,
      p_tags text[], p_data bytea, p_metadata bytea, p_sealed boolean, p_digest bytea, p_sum integer, p_check_id boolean,
      p_channel text, p_rule_key bytea)
    ${ANSWER}
      v_revision bigint;
    begin
      select h.position + 1, greatest(h.time, ${NOW_MS}) into v_first, v_time from ${s}.head h for update;
      select b.revision into v_revision from ${s}.streams b where b.stream = p_stream;
      if coalesce(v_revision, -1) <> p_before then
        return query select null::bigint, null::bigint, p_stream, coalesce(v_revision, -1);
        return;
      end if;
      if p_check_id and exists (select 1 from ${s}.events e where e.id = p_id) then
        return query select null::bigint, null::bigint, null::text, 1::bigint;
        return;
      end if;
      if exists (select 1 from ${s}.kv r where r.k = p_rule_key) then
        return query select null::bigint, null::bigint, null::text, 4::bigint;
        return;
      end if;
      insert into ${s}.events (position, stream, revision, id, type, version, tags, data, metadata, sealed, digest, time, sum)
        values (v_first, p_stream, p_before + 1, p_id, p_type, p_version, p_tags, p_data, p_metadata, p_sealed, p_digest, v_time, p_sum);
      if p_tags is not null then
        insert into ${s}.event_tags (tag, position) select g, v_first from unnest(p_tags) as g;
      end if;
      if v_revision is null then
        insert into ${s}.streams (stream, revision, position, time) values (p_stream, p_before + 1, v_first, v_time);
      else
        update ${s}.streams set revision = p_before + 1, position = v_first, time = v_time where stream = p_stream;
      end if;
      update ${s}.head set position = v_first, time = v_time;
      perform pg_notify(p_channel, 'c' || v_first || ':' || v_first || ':' || v_time);
      return query select v_first, v_time, null::text, null::bigint;
    end $$`,

    // The first step of an append checked under the lock (in a transaction the writer holds
    // open): takes the lock and returns what the checks need. Rows by kind: 0 the head (position,
    // and its time as revision); 1 a stream's revision; 2 a stored event with one of the ids; 3
    // the first event matching condition n (position); 4 the process that last ran inline
    // projections (stream) and its last position; 5 the batch's commit time (revision).
    `create or replace function ${s}.prepare(p_streams text[], p_ids text[], p_conditions jsonb)
    returns table (o_kind integer, o_n integer, o_stream text, o_revision bigint, o_position bigint, o_id text, o_type text,
      o_version integer, o_tags text[], o_data bytea, o_metadata bytea, o_sealed boolean, o_digest bytea, o_sum integer)
    language plpgsql as $$
    #variable_conflict use_column
    declare
      v_head bigint;
      v_time bigint;
      v_owner text;
      v_owner_position bigint;
      v_c record;
      v_item jsonb;
      v_after bigint;
      v_best bigint;
      v_p bigint;
      v_types text[];
      v_tags text[];
    begin
      select h.position, h.time, h.hook_owner, h.hook_position into v_head, v_time, v_owner, v_owner_position from ${s}.head h for update;
      return query select 0, null::integer, null::text, v_time, v_head,
        null::text, null::text, null::integer, null::text[], null::bytea, null::bytea, null::boolean, null::bytea, null::integer;
      return query select 5, null::integer, null::text, greatest(v_time, ${NOW_MS}), null::bigint,
        null::text, null::text, null::integer, null::text[], null::bytea, null::bytea, null::boolean, null::bytea, null::integer;
      if v_owner is not null then
        return query select 4, null::integer, v_owner, null::bigint, v_owner_position,
          null::text, null::text, null::integer, null::text[], null::bytea, null::bytea, null::boolean, null::bytea, null::integer;
      end if;
      return query select 1, null::integer, b.stream, b.revision, b.position,
        null::text, null::text, null::integer, null::text[], null::bytea, null::bytea, null::boolean, null::bytea, null::integer
        from ${s}.streams b where b.stream = any(p_streams);
      return query select 2, null::integer, e.stream, e.revision, e.position, e.id, e.type, e.version, e.tags, e.data, e.metadata, e.sealed, e.digest, e.sum
        from ${s}.events e where e.id = any(p_ids);
      for v_c in select c.value, c.ordinality from jsonb_array_elements(coalesce(p_conditions, '[]')) with ordinality as c loop
        v_after := coalesce((v_c.value->>'after')::bigint, -1);
        v_best := null;
        if jsonb_array_length(v_c.value->'items') = 0 then
          select e.position into v_best from ${s}.events e where e.position > v_after and e.position <= v_head order by e.position limit 1;
        end if;
        for v_item in select i.value from jsonb_array_elements(v_c.value->'items') as i loop
          v_types := case when v_item ? 'types' and jsonb_array_length(v_item->'types') > 0 then array(select jsonb_array_elements_text(v_item->'types')) end;
          v_tags := case when v_item ? 'tags' and jsonb_array_length(v_item->'tags') > 0 then array(select jsonb_array_elements_text(v_item->'tags')) end;
          if v_tags is not null then
            select g.position into v_p from ${s}.event_tags g join ${s}.events e on e.position = g.position
              where g.tag = v_tags[1] and g.position > v_after and g.position <= coalesce(v_best - 1, v_head)
                and e.tags @> v_tags and (v_types is null or e.type = any(v_types))
              order by g.position limit 1;
          else
            select e.position into v_p from ${s}.events e
              where e.position > v_after and e.position <= coalesce(v_best - 1, v_head) and (v_types is null or e.type = any(v_types))
              order by e.position limit 1;
          end if;
          if v_p is not null then v_best := v_p; end if;
        end loop;
        if v_best is not null then
          return query select 3, (v_c.ordinality - 1)::integer, null::text, null::bigint, v_best,
            null::text, null::text, null::integer, null::text[], null::bytea, null::bytea, null::boolean, null::bytea, null::integer;
        end if;
      end loop;
    end $$`,

    // The second step, in the same transaction: writes the batch the writer built after prepare,
    // with the writes of the append hook (inline projections); p_owner names this process when
    // a hook took part.
    `create or replace function ${s}.write(p_first bigint, p_time bigint, p_owner text, ${EVENT_PARAMS},
      p_put_k bytea[], p_put_v bytea[], p_put_doc text[], p_del_k bytea[], p_channel text)
    returns void
    language plpgsql ${GENERIC} as $$
    #variable_conflict use_column
    declare
      v_first bigint := p_first;
      v_time bigint := p_time;
      v_n integer := coalesce(cardinality(p_stream), 0);
    begin
      if (select h.position from ${s}.head h) <> p_first - 1 then
        raise exception 'the head moved under the lock' using errcode = 'ANLCK';
      end if;
      if v_n > 0 then
        ${insertEvents(s, false)}
      end if;
      ${kvWrites(s)}
    end $$`,

    // A write of the key spaces, atomically; without p_sync it does not wait for the WAL flush
    // (a crash of the server may take it back whole: never half of it).
    `create or replace function ${s}.kv_write(p_put_k bytea[], p_put_v bytea[], p_put_doc text[], p_del_k bytea[], p_sync boolean)
    returns void
    language plpgsql as $$
    begin
      if not p_sync then perform set_config('synchronous_commit', 'off', true); end if;
      ${kvWrites(s)}
    end $$`,

    // The last position committed at or before p_time, or -1: a binary search over positions
    // (commit times never decrease with them), through the primary key. Positions a scavenge
    // removed are stepped over: each probe takes the first event at or after its position.
    `create or replace function ${s}.position_at(p_time bigint)
    returns bigint
    language plpgsql stable as $$
    declare
      v_lo bigint;
      v_hi bigint;
      v_mid bigint;
      v_p bigint;
      v_t bigint;
    begin
      select h.position into v_hi from ${s}.head h;
      if v_hi < 0 then return -1; end if;
      select e.position, e.time into v_lo, v_t from ${s}.events e order by e.position limit 1;
      if v_lo is null then raise exception 'the events are missing' using errcode = 'ANMIS'; end if;
      if v_t > p_time then return -1; end if;
      while v_lo < v_hi loop
        v_mid := (v_lo + v_hi + 1) / 2;
        v_p := null;
        select e.position, e.time into v_p, v_t from ${s}.events e where e.position >= v_mid and e.position <= v_hi order by e.position limit 1;
        if v_p is null or v_t > p_time then v_hi := v_mid - 1; else v_lo := v_p; end if;
      end loop;
      return v_lo;
    end $$`,

    // The last revision of a stream at or before a position, or -1: a binary search over the
    // stream's revisions still stored (from its kept_from; positions grow with them), through
    // unique (stream, revision). Before its first revision stored: the one before that.
    `create or replace function ${s}.revision_at(p_stream text, p_position bigint)
    returns bigint
    language plpgsql stable as $$
    declare
      v_lo bigint;
      v_hi bigint;
      v_mid bigint;
      v_p bigint;
    begin
      select b.revision, b.position, b.kept_from into v_hi, v_p, v_lo from ${s}.streams b where b.stream = p_stream;
      if v_hi is null then return -1; end if;
      if v_p <= p_position then return v_hi; end if;
      if v_lo > v_hi then return v_hi; end if;
      select e.position into v_p from ${s}.events e where e.stream = p_stream and e.revision = v_lo;
      if v_p is null then raise exception 'revision % of stream % is missing', v_lo, p_stream using errcode = 'ANMIS'; end if;
      if v_p > p_position then return v_lo - 1; end if;
      while v_lo < v_hi loop
        v_mid := (v_lo + v_hi + 1) / 2;
        select e.position into v_p from ${s}.events e where e.stream = p_stream and e.revision = v_mid;
        if v_p is null then raise exception 'revision % of stream % is missing', v_mid, p_stream using errcode = 'ANMIS'; end if;
        if v_p <= p_position then v_lo := v_mid; else v_hi := v_mid - 1; end if;
      end loop;
      return v_lo;
    end $$`,

    // For people: the documents of a projection's view, as jsonb (null where a document is not
    // plain data), by view key. The view's current generation is the first element of its record
    // (P 'a' name, MessagePack [gen, version, fingerprint, history, next]: projections/checkpoints.ts),
    // its documents the keys V gen(u32) key (projections/keys.ts).
    `create or replace function ${s}.view_documents(p_name text)
    returns table (key text, doc jsonb)
    language plpgsql stable as $$
    declare
      v_record bytea;
      v_gen bigint;
      v_lo bytea;
      v_hi bytea;
    begin
      select kv.v into v_record from ${s}.kv kv where kv.k = '\\x5061'::bytea || convert_to(p_name, 'UTF8');
      if v_record is null then return; end if;
      if get_byte(v_record, 0) <> 149 then raise exception 'the record of view % is not one annals wrote', p_name using errcode = 'ANMIS'; end if;
      v_gen := case
        when get_byte(v_record, 1) < 128 then get_byte(v_record, 1)
        when get_byte(v_record, 1) = 204 then get_byte(v_record, 2)
        when get_byte(v_record, 1) = 205 then get_byte(v_record, 2) * 256 + get_byte(v_record, 3)
        when get_byte(v_record, 1) = 206 then ((get_byte(v_record, 2) * 256 + get_byte(v_record, 3)) * 256 + get_byte(v_record, 4))::bigint * 256 + get_byte(v_record, 5)
      end;
      v_lo := '\\x56'::bytea || substring(int8send(v_gen) from 5 for 4);
      v_hi := '\\x56'::bytea || substring(int8send(v_gen + 1) from 5 for 4);
      return query select convert_from(substring(kv.k from 6), 'UTF8'), kv.doc from ${s}.kv kv where kv.k >= v_lo and kv.k < v_hi order by kv.k;
    end $$`
  ]
}

/** A fingerprint of the functions' text: a schema whose stored one differs gets them again. */
export function functionsVersion (): string {
  return createHash('sha256').update(functionsSql('"s"').join('\n')).digest('hex').slice(0, 16)
}

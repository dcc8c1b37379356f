// The tables of an annals database on PostgreSQL, in a schema of its own (`annals` by default).
// What each holds, and why it is shaped so, is told in docs/postgres.md ("The tables").
//
// Text columns that annals orders or compares (stream names, ids, tags, types, subjects) use the
// "C" collation: bytewise, so that streams list in the byte order of their UTF-8 names as the
// contract says, whatever the database's own collation.

/** The format of the tables: a database of a newer format is refused (ANNALS_UNSUPPORTED_FORMAT). */
export const FORMAT = 1

/** The tables, their indexes and the head row, for a schema whose quoted name is `s`. */
export function tablesSql (s: string): string[] {
  return [
    `create table ${s}.meta (
      name text primary key,
      value text not null
    )`,
    // the one row every append locks: where the log ends, and which process last ran inline projections
    `create table ${s}.head (
      one boolean primary key default true check (one),
      position bigint not null,
      time bigint not null,
      hook_owner text,
      hook_position bigint
    )`,
    `insert into ${s}.head (position, time) values (-1, 0)`,
    `create table ${s}.events (
      position bigint primary key,
      stream text collate "C" not null,
      revision bigint not null,
      id text collate "C" not null,
      type text collate "C" not null,
      version integer not null,
      tags text[] collate "C",
      data bytea not null,
      metadata bytea,
      sealed boolean not null,
      digest bytea,
      time bigint not null,
      sum integer not null,
      constraint events_stream_revision unique (stream, revision),
      constraint events_id unique (id)
    )`,
    // the tag index: one row per event and tag, in position order per tag
    `create table ${s}.event_tags (
      tag text collate "C" not null,
      position bigint not null,
      primary key (tag, position)
    )`,
    // each stream's last event, and its first revision still stored (a scavenge moves it on)
    `create table ${s}.streams (
      stream text collate "C" primary key,
      revision bigint not null,
      position bigint not null,
      time bigint not null,
      kept_from bigint not null default 0
    )`,
    // the positions whose events a scavenge deleted (or an import found removed): runs of them,
    // so that a read that finds a position missing can tell removal from damage
    `create table ${s}.removed (
      first bigint primary key,
      last bigint not null
    )`,
    // the key spaces of the layers above; view documents also as jsonb where they are plain data
    `create table ${s}.kv (
      k bytea primary key,
      v bytea not null,
      doc jsonb
    )`,
    keysTableSql(s),
    `insert into ${s}.meta (name, value) values ('format', '${FORMAT}')`
  ]
}

/**
 * Subjects' keys (privacy/postgres-key-store.ts): a table of its own, rewritten at every shred.
 * Made with the schema, or by the key store on its first use where it lives elsewhere.
 */
export function keysTableSql (s: string): string {
  return `create table if not exists ${s}.keys (
      subject text collate "C" primary key,
      value bytea not null
    )`
}

/** The tables an annals schema holds: one that holds others, or not all of them, is not annals'. */
export const TABLES = ['meta', 'head', 'events', 'event_tags', 'streams', 'removed', 'kv', 'keys']

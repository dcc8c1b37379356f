// Parsers of option values: a bad value is a usage error (exit code 2) that names the option.
import { InvalidArgumentError } from 'commander'

/** A non-negative integer: a position, a revision, a count. */
export function integer (value: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected a non-negative integer.')
  return n
}

/** A moment: an ISO 8601 date-time (`2024-05-01T10:00:00Z`), a date, or milliseconds since the epoch. */
export function moment (value: string): number {
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value)
  if (!Number.isFinite(ms)) throw new InvalidArgumentError('expected an ISO 8601 time (2024-05-01T10:00:00Z) or milliseconds since the epoch.')
  return ms
}

/** Collects a repeatable option's values. */
export function collectValues (value: string, previous: string[] | undefined): string[] {
  return [...previous ?? [], value]
}

// The public API of annals. Everything a user imports comes from here, by name.
export { open } from './store/open.js'
export type { OpenOptions, Location } from './store/open.js'
export { Annals } from './store/annals.js'
export { AnnalsError, isAnnalsError } from './errors.js'
export type { AnnalsErrorCode } from './errors.js'
export type {
  NewEvent, RecordedEvent, ExpectedRevision, AppendOptions, AppendResult, ReadStreamOptions, ReadAllOptions
} from './log/types.js'
export { defineAggregate } from './aggregates/define.js'
export type { Aggregate, AggregateOptions } from './aggregates/define.js'
export type { LoadOptions, LoadTarget, Loaded } from './aggregates/target.js'
export { Subscription } from './subscriptions/subscription.js'
export type { SubscribeOptions, EventHandler } from './subscriptions/subscription.js'
export type { AnyLevel } from './storage/storage.js'

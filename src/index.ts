// The public API of annals. Everything a user imports comes from here, by name.
export { open } from './store/open.js'
export type { OpenOptions, Location } from './store/open.js'
export { Annals } from './store/annals.js'
export { AnnalsError, isAnnalsError } from './errors.js'
export type { AnnalsErrorCode } from './errors.js'
export type {
  NewEvent, RecordedEvent, ExpectedRevision, AppendOptions, AppendResult, ReadStreamOptions, ReadAllOptions,
  AppendCondition, AppendManyOptions, AppendManyPart, QueryItem, ReadOptions, ReadResult
} from './log/types.js'
export type { EventStream } from './log/reader.js'
export type { EventDeclaration, EventShape, UpcastStep } from './log/event-declarations.js'
export { defineAggregate } from './aggregates/define.js'
export type { Aggregate, AggregateOptions } from './aggregates/define.js'
export type { LoadOptions, LoadTarget, Loaded } from './aggregates/target.js'
export { Subscription } from './subscriptions/subscription.js'
export type { SubscribeOptions, EventHandler } from './subscriptions/subscription.js'
export type { AnyLevel } from './backend/level/door.js'
export { MemoryKeyStore } from './privacy/key-store.js'
export type { KeyStore, SubjectKey } from './privacy/key-store.js'
export { LevelKeyStore } from './privacy/level-key-store.js'
export type { LevelKeyStoreOptions } from './privacy/level-key-store.js'
export type { PersonalData } from './privacy/declarations.js'
export { Sealed } from './privacy/sealed.js'
export { defineProjection } from './projections/definition.js'
export type {
  ProjectionDefinition, ProjectionOptions, ProjectionHandler, ProjectionMode, ViewWriter
} from './projections/definition.js'
export { Projection } from './projections/handle.js'
export type { AtOptions, ProjectionView } from './projections/handle.js'
export type { ProjectionStatus } from './projections/projected.js'
export type { QueryOptions } from './projections/view.js'
export type { Stats } from './store/stats.js'
export type { WindowSummary } from './diagnostics/figures.js'
export type {
  DatabaseInfo, AppendMessage, BatchMessage, ReadMessage, LoadMessage, ShredMessage, SnapshotMessage, SubscriptionMessage, ProjectionMessage
} from './diagnostics/channels.js'
export { CHANNELS } from './diagnostics/channels.js'

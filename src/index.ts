// The public API of annals. Everything a user imports comes from here, by name.
export { open } from './store/open.js'
export type { OpenOptions, Location } from './store/open.js'
export { Annals } from './store/annals.js'
export { AnnalsError, isAnnalsError } from './errors.js'
export type { AnnalsErrorCode } from './errors.js'
export type {
  NewEvent, RecordedEvent, ExpectedRevision, AppendOptions, AppendResult, ReadStreamOptions, ReadAllOptions
} from './log/types.js'
export { Subscription } from './subscriptions/subscription.js'
export type { SubscribeOptions, EventHandler } from './subscriptions/subscription.js'
export type { AnyLevel } from './storage/storage.js'
export { defineProjection } from './projections/definition.js'
export type {
  ProjectionDefinition, ProjectionOptions, ProjectionHandler, ProjectionMode, ViewWriter
} from './projections/definition.js'
export { Projection } from './projections/handle.js'
export type { AtOptions, ProjectionView } from './projections/handle.js'
export type { ProjectionStatus } from './projections/projected.js'
export type { QueryOptions } from './projections/view.js'

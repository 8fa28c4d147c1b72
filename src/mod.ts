// The core public surface, re-exported by the package root.
export type {
  DiscoveryEvent,
  DiscoveryListener,
  Endpoint,
  Endpointer,
  EndpointOptions,
  Factory,
  FactoryResult,
  FailureEvent,
  HealthStatus,
  InstanceDetails,
  Instancer,
  InstancesEvent,
  Logger,
  Registrar,
  RegistrarCallOptions,
  SubscribeOptions,
  Subscription,
} from "./types.ts";
export {
  DiscoveryLoopError,
  isSdError,
  MalformedResponseError,
  NoEndpointsError,
  RegistryRejectedError,
  RegistryUnavailableError,
  RetryError,
  SdError,
  type SdErrorCode,
  type SdErrorOptions,
  StoppedError,
} from "./errors.ts";
export {
  type DiscoveryUpdate,
  InstanceCache,
  type InstanceCacheOptions,
  type InstanceInput,
} from "./instance_cache.ts";
export { FixedEndpointer, FixedInstancer } from "./fixed.ts";
export {
  DefaultEndpointer,
  type DefaultEndpointerOptions,
  type DefaultEndpointerReadyOptions,
  type EndpointEntry,
  EndpointerErrorEvent,
  EndpointsChangeEvent,
} from "./endpointer.ts";
export { RegistrarErrorEvent, RegistrarEvent, type RegistrarEventType } from "./registrar.ts";
export { type FetchFunction, httpFactory, type HttpFactoryOptions } from "./http/factory.ts";
export { balancedFetch, type BalancedFetchOptions } from "./http/balanced_fetch.ts";
// Types that the fetch helper's signature mentions; the implementations live in `./lb`.
export type { Balancer } from "./lb/balancer.ts";
export type { BackoffOptions, RetryCallback, RetryOptions } from "./lb/retry.ts";
export {
  BackgroundInstancer,
  type BackgroundInstancerOptions,
  backoffOptions,
} from "./background_instancer.ts";
export { joinHostPort } from "./_host.ts";
export {
  type Lookup,
  type LookupOptions,
  type LookupResult,
  PullInstancer,
  type PullInstancerOptions,
  type PullStatus,
  type RefreshOptions,
  type RefreshResult,
  type RefreshSource,
} from "./pull_instancer.ts";
export {
  type Closable,
  type Deregistrable,
  gracefulShutdown,
  type ShutdownContext,
  type ShutdownFailure,
  type ShutdownHandle,
  type ShutdownHook,
  type ShutdownOptions,
  type ShutdownReport,
  type ShutdownTargets,
  type Stoppable,
} from "./shutdown.ts";
export { detectSignalSource, type ShutdownSignal, signalExitCode, type SignalSource } from "./signals.ts";

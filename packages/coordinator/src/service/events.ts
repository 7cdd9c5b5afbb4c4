import type { WorkerEvent } from '@braintune/protocol';

/** Postgres NOTIFY channel: the payload is the id of a study whose state changed (read models listen). */
export const EVENTS_CHANNEL = 'braintune_events';

/** Emitted after a study's decisions are committed and their jobs queued (for benchmarks and metrics). */
export interface AppliedEvent {
  studyId: string;
  /** What triggered the decisions: the kind of the batch's closing events, or a tick. */
  kind: Extract<WorkerEvent['kind'], 'result' | 'failed'> | 'tick';
  /**
   * When the oldest rung outcome that led to these decisions was produced on its worker (ms
   * since epoch); null for ticks. With group commit several outcomes share one decision, so
   * `queuedAt - eventAt` is the worst case of the batch.
   */
  eventAt: number | null;
  /**
   * Per promoted trial, when the outcome that led to its promotion was produced: the trial's own
   * rung outcome when it is in the batch (it finished and ranks high enough), else the batch's
   * oldest outcome (others' results made it eligible). Empty for ticks.
   */
  promotedFrom: number[];
  /** When the resulting jobs were in Redis. */
  queuedAt: number;
  decisions: number;
  promoted: number;
  created: number;
}

/** Counters since start (tests, benchmarks and metrics read them). */
export interface CoordinatorStats {
  /** Worker events that changed Postgres, by kind. */
  recorded: Record<WorkerEvent['kind'], number>;
  /** Events that changed nothing (duplicates, or news about closed rungs). */
  duplicates: number;
  /** Rungs re-enqueued by reconciliation because Redis had no job for them. */
  requeued: number;
  /** Results recovered from finished jobs' return values by reconciliation. */
  recovered: number;
  decisions: number;
  /** Results-queue transactions (each records a batch of events) and the events they held. */
  batches: number;
  batchedEvents: number;
}

export function newStats(): CoordinatorStats {
  return {
    recorded: { started: 0, epoch: 0, result: 0, failed: 0 },
    duplicates: 0,
    requeued: 0,
    recovered: 0,
    decisions: 0,
    batches: 0,
    batchedEvents: 0,
  };
}

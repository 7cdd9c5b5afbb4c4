import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  RESULTS_QUEUE,
  closeQueue,
  WorkerEventSchema,
  workerEventJobOptions,
  type WorkerEvent,
} from '@braintune/protocol';

/**
 * Producer of the durable results queue (used by workers, and by tests/benchmarks that
 * simulate workers). Events wait in Redis while the coordinator is down.
 */
export class ResultsQueue {
  readonly queue: Queue<WorkerEvent>;

  constructor(connection: Redis, prefix: string) {
    this.queue = new Queue<WorkerEvent>(RESULTS_QUEUE, { connection, prefix });
  }

  async publish(event: WorkerEvent): Promise<void> {
    const valid = WorkerEventSchema.parse(event);
    await this.queue.add(valid.kind, valid, workerEventJobOptions(valid));
  }

  close(): Promise<void> {
    return closeQueue(this.queue);
  }
}

import { restartFailedTasks } from '../../workers/connect/debezium.js';

/**
 * What an operator of Kafka Connect does for a connector (Strimzi's auto-restart, a runbook): every
 * `everyMs`, a FAILED connector or task is restarted through the REST API, and said. Debezium
 * restarts itself after the retriable errors of its database going away, but an error it does not
 * retry leaves the task FAILED, and Kafka Connect never restarts it: the changes would wait
 * forever, and a scenario would count them lost.
 */
export class ConnectOperator {
  readonly restarts: string[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;
  #busy = false;

  constructor(
    private readonly connectUrl: string,
    private readonly connector: string,
    private readonly said: (what: string) => void,
    private readonly everyMs = 2000,
  ) {}

  start(): void {
    this.#timer = setInterval(() => {
      if (this.#busy) return;
      this.#busy = true;
      restartFailedTasks(this.connectUrl, this.connector)
        .then((traces) => {
          for (const t of traces) {
            this.restarts.push(t);
            this.said(
              `Debezium connector ${this.connector} FAILED (${t}); restarted through Connect's REST API`,
            );
          }
        })
        .catch((err: unknown) => this.said(`could not check connector ${this.connector}: ${String(err)}`))
        .finally(() => {
          this.#busy = false;
        });
    }, this.everyMs);
    // A scenario that fails before its clean-up must not be kept alive by this timer.
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }
}

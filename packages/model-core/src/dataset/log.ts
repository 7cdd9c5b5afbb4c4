import { createLogger, type Logger } from '@braintune/protocol';

let logger: Logger | undefined;

/** The data set preparation's logger, created on first use (importing the module logs nothing). */
export const log = (): Logger => (logger ??= createLogger('dataset'));

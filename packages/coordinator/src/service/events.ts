/** Postgres NOTIFY channel: the payload is the id of a study whose state changed (read models listen). */
export const EVENTS_CHANNEL = 'braintune_events';

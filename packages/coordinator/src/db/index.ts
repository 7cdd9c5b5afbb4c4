export * as schema from './schema.js';
export * from './schema.js';
export {
  openDatabase,
  ensureDatabaseExists,
  dropDatabase,
  migrateDatabase,
  MIGRATIONS_FOLDER,
  type Db,
  type Tx,
  type DbOrTx,
  type Database,
  type OpenDatabaseOptions,
} from './client.js';
export {
  ConnectionMonitor,
  asDatabaseUnavailable,
  isConnectionLoss,
  type ConnectionMonitorOptions,
} from './connection-monitor.js';

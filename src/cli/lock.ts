/** The database lock moved to core (the extension takes it too); kept so CLI imports still resolve. */
export * from '../core/dbLock';

import * as path from 'node:path';

/** What phase 1 leaves for phase 2 (and for the runner, which waits for `pid` to die). */
export interface RecoveryMarker {
  pid: number;
  names: string[];
  prefix: string;
  dbFile: string;
}

/** `$BORG_TEST_SCRATCH/recovery.json`; the runner sets BORG_TEST_SCRATCH for code-server. */
export function markerFile(): string {
  const scratch = process.env.BORG_TEST_SCRATCH;
  if (!scratch) throw new Error('BORG_TEST_SCRATCH is not set: run through scripts/run-host-tests.mjs');
  return path.join(scratch, 'recovery.json');
}

import * as path from 'node:path';
import { runMocha } from '../extension/mochaRun';

/** Phase 2 of the crash test: a new extension host on the same folder. */
export function run(): Promise<void> {
  return runMocha([path.join(__dirname, 'phase2.spec.js')]);
}

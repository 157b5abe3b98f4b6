import * as fs from 'node:fs';
import * as path from 'node:path';
import { runMocha } from './mochaRun';

/** Entry the extension host calls (`extensionTestsPath`): every `*.test.js` beside this file, in name order. */
export function run(): Promise<void> {
  return runMocha(
    fs
      .readdirSync(__dirname)
      .filter((f) => f.endsWith('.test.js'))
      .sort()
      .map((f) => path.join(__dirname, f)),
  );
}

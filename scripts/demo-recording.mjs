#!/usr/bin/env node
// Writes the demo's model recording: what a model "says" to the manager, qa and worker agents of
// the demo task ("Greet by name" on the sample repository media/demo-sample/), as a JSON Lines
// recording the model gateway replays (`borg.modelUpstream: replay:<file>`). Nothing here asks a
// model: the answers are scripted (src/core/gateway/script.ts), with token counts of the size a
// real Claude Code session reports, so the views show a cost.
//   node scripts/demo-recording.mjs FILE.jsonl        (needs out/, built by scripts/setup.sh)
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { scriptedRun, writeRecording } = require(path.join(ROOT, 'out', 'src', 'core', 'gateway', 'script.js'));

const file = process.argv[2];
if (!file) {
  console.error('usage: node scripts/demo-recording.mjs FILE.jsonl');
  process.exit(2);
}

/** Where the agents see the task's worktree. */
const REPO = '/workspace/repo';
const SAMPLE = path.join(ROOT, 'media', 'demo-sample');

/** The title of the task scripts/demo.sh adds through the UI (the replay does not compare it). */
const TITLE = 'Greet by name';

const SPEC = `# Greet by name

## What changes
\`greet(name)\` in \`greet.js\` greets the person named: \`greet('Ada')\` returns \`Hello, Ada!\`.
Without a name (no argument, or an empty string) it still returns \`Hello, world!\`, so
\`node greet.js Ada\` prints \`Hello, Ada!\` and \`node greet.js\` prints \`Hello, world!\`.

## Acceptance criteria
- \`greet('Ada')\` is \`Hello, Ada!\`; \`greet('Grace Hopper')\` is \`Hello, Grace Hopper!\`.
- \`greet()\` and \`greet('')\` are \`Hello, world!\`.
- \`sh run-tests.sh\` passes, the existing test included.

## Out of scope
Other languages, trimming or capitalising names.
`;

const TEST = `'use strict';
const assert = require('node:assert/strict');
const { greet } = require('../greet');

assert.equal(greet('Ada'), 'Hello, Ada!');
assert.equal(greet('Grace Hopper'), 'Hello, Grace Hopper!');
assert.equal(greet(''), 'Hello, world!');
assert.equal(greet(), 'Hello, world!');
`;

const OLD = `/** The greeting the command line prints. */
function greet() {
  return 'Hello, world!';
}`;
const NEW = `/** The greeting for \`name\`, or for the whole world when no name is given. */
function greet(name) {
  return \`Hello, \${name || 'world'}!\`;
}`;

// The worker's Edit must match the sample as committed: fail here rather than in the demo.
if (!fs.readFileSync(path.join(SAMPLE, 'greet.js'), 'utf8').includes(OLD)) {
  console.error(`demo-recording: ${path.join(SAMPLE, 'greet.js')} no longer holds the code the worker's Edit replaces; update both together`);
  process.exit(1);
}

/** Token counts of one turn: a Claude Code turn sends its ~14k-token system prompt and tools each time. */
const usage = (inputTokens, outputTokens) => ({ usage: { inputTokens, outputTokens } });
const at = (rel) => `${REPO}/${rel}`;

const manager = [
  {
    tools: [
      { tool: 'Read', input: { file_path: at('greet.js') } },
      { tool: 'Read', input: { file_path: at('tests/greet.test.js') } },
    ],
    ...usage(14210, 118),
  },
  { tool: 'Write', input: { file_path: at('spec.md'), content: SPEC }, ...usage(14930, 431) },
  { text: "Wrote spec.md: greet(name) says Hello, <name>!, and Hello, world! without a name. (Scripted demo answer, replayed by Borg's gateway.)", ...usage(15480, 41) },
];
const qa = [
  {
    tools: [
      { tool: 'Read', input: { file_path: at('spec.md') } },
      { tool: 'Read', input: { file_path: at('tests/greet.test.js') } },
    ],
    ...usage(14650, 96),
  },
  { tool: 'Write', input: { file_path: at('tests/greet-name.test.js'), content: TEST }, ...usage(15260, 312) },
  { text: "Added tests/greet-name.test.js; it fails until greet takes a name. (Scripted demo answer, replayed by Borg's gateway.)", ...usage(15640, 33) },
];
const worker = [
  { tool: 'Read', input: { file_path: at('greet.js') }, ...usage(14980, 71) },
  { tool: 'Edit', input: { file_path: at('greet.js'), old_string: OLD, new_string: NEW }, ...usage(15350, 244) },
  { tool: 'Bash', input: { command: `sh ${at('run-tests.sh')}`, description: 'Run the tests' }, ...usage(15760, 86) },
  { text: "greet(name) now greets by name; sh run-tests.sh passes. (Scripted demo answer, replayed by Borg's gateway.)", ...usage(16090, 39) },
];

writeRecording(
  file,
  [scriptedRun('manager', manager, { phase: 'spec' }), scriptedRun('qa', qa, { phase: 'qa' }), scriptedRun('worker', worker, { phase: 'impl' })],
  `scripted demo recording (scripts/demo-recording.mjs): no model was asked; manager, qa and worker answers for the task "${TITLE}" on media/demo-sample`,
);
console.log(`[demo] wrote the scripted model recording ${file}`);

// Bundles the extension (dist/extension.js) and the headless CLI (dist/cli.js) with esbuild and
// copies sql.js's wasm next to them (the store loads it from __dirname).
//   node scripts/build.mjs [--watch] [--production]
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync, chmodSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

mkdirSync('dist', { recursive: true });
copyFileSync(join(dirname(require.resolve('sql.js')), 'sql-wasm.wasm'), 'dist/sql-wasm.wasm');

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
  // Optional native speed-ups of ssh2 (dockerode's ssh transport): not built here, loaded in try/catch.
  external: ['cpu-features', './crypto/build/Release/sshcrypto.node'],
  // store.ts falls back to node_modules' wasm only when run unbundled; bundled, the copy beside it is used.
  logOverride: { 'require-resolve-not-external': 'silent' },
};

const builds = [
  { ...common, entryPoints: ['src/vscode/extension.ts'], outfile: 'dist/extension.js', external: [...common.external, 'vscode'] },
  { ...common, entryPoints: ['src/cli.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } },
];

if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
  console.log('[build] watching');
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
  chmodSync('dist/cli.js', 0o755);
}

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

// Two parts of dockerode cost most of the extension's start-up when bundled: its BuildKit session
// support (lib/session.js: gRPC and protobufjs, built at load; Borg builds no images through
// dockerode) is replaced by a stub that throws if it is ever reached; docker-modem's ssh://
// transport (lib/ssh.js → ssh2, which probes the crypto ciphers at load) is bundled but loaded
// lazily: modem.js requires './ssh' at its top, so that require gets a wrapper that loads the
// real module on the first ssh:// request (esbuild runs a bundled CommonJS module's body when it
// is first required), and a Docker host that is not ssh:// never loads ssh2.
const STUBS = {
  session: "module.exports = function withSession() { throw new Error('BuildKit sessions are not bundled with Borg'); };",
};
const dockerParts = {
  name: 'docker-parts',
  setup(build) {
    build.onResolve({ filter: /^\.\/session$/ }, (a) => (/[\\/]dockerode[\\/]lib$/.test(a.resolveDir) ? { path: 'session', namespace: 'borg-stub' } : undefined));
    build.onLoad({ filter: /.*/, namespace: 'borg-stub' }, (a) => ({ contents: STUBS[a.path], loader: 'js' }));
    build.onResolve({ filter: /^\.\/ssh$/ }, (a) =>
      /[\\/]docker-modem[\\/]lib$/.test(a.resolveDir) && a.namespace !== 'borg-lazy' ? { path: join(a.resolveDir, 'ssh.js'), namespace: 'borg-lazy' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'borg-lazy' }, (a) => ({
      contents: `module.exports = function lazySsh(opt) { return require(${JSON.stringify(a.path)})(opt); };`,
      resolveDir: dirname(a.path),
      loader: 'js',
    }));
  },
};

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
  plugins: [dockerParts],
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

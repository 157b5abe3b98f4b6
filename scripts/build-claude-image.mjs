#!/usr/bin/env node
// Builds the Claude Code agent image (default borg-agent-claude:latest) offline, through dockerode:
//   1. a Debian bookworm root filesystem from Debian's packages (mmdebstrap, minbase + nodejs,
//      ca-certificates, git) with user `agent` (uid/gid 1000, home /home/agent), an empty
//      /home/agent/state and /workspace owned by it — cached under .scratch/claude-image/
//      (or $BORG_CLAUDE_IMAGE_CACHE);
//   2. the native `claude` binary from the npm package @anthropic-ai/claude-code-linux-x64
//      (`npm pack`, tarball cached) at /usr/local/bin/claude;
//   3. agents/claude/entrypoint.js at /usr/local/bin/borg-agent;
// streamed as one tar into the Engine's image import (no docker CLI, no registry). The image carries
// a label with a hash of everything that went in, so an up-to-date image is not built again.
//
//   node scripts/build-claude-image.mjs [--force] [--tag repo:tag] [--claude-version 2.1.N]
//
// Claude version: --claude-version, else $BORG_CLAUDE_VERSION, else the npm registry's latest
// @anthropic-ai/claude-code if it is 2.1.x (else the newest 2.1.x), else (registry unreachable)
// the newest tarball already cached. Debian mirror: $BORG_DEBIAN_MIRROR, else the one apt on this
// machine uses (read from /etc/apt/sources.list[.d]). Progress goes to stderr; on success the
// image reference is the only line on stdout. Exit 0 on success (built or already current), 1 on failure.
import { createHash } from 'node:crypto';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import * as zlib from 'node:zlib';
import Docker from 'dockerode';
import tar from 'tar-stream';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Cache of the rootfs tar and npm tarballs; BORG_CLAUDE_IMAGE_CACHE moves it (e.g. outside a CI clone). */
const SCRATCH = path.resolve(process.env.BORG_CLAUDE_IMAGE_CACHE || path.join(ROOT, '.scratch', 'claude-image'));
const ENTRYPOINT = path.join(ROOT, 'agents', 'claude', 'entrypoint.js');
const DEFAULT_TAG = 'borg-agent-claude:latest';
const CLI_PACKAGE = '@anthropic-ai/claude-code';
const PLATFORM_PACKAGE = '@anthropic-ai/claude-code-linux-x64';
const HASH_LABEL = 'borg.claude.hash';
const VERSION_LABEL = 'borg.claude.version';
const SUITE = 'bookworm';

/** mmdebstrap arguments (before suite, target and mirror). Part of the rootfs cache key. */
const MMDEBSTRAP_ARGS = [
  '--variant=minbase',
  '--include=nodejs,ca-certificates,git',
  // No manuals, docs (but copyrights) or translations: ~40 MB less.
  '--dpkgopt=path-exclude=/usr/share/man/*',
  '--dpkgopt=path-exclude=/usr/share/doc/*',
  '--dpkgopt=path-include=/usr/share/doc/*/copyright',
  '--dpkgopt=path-exclude=/usr/share/locale/*',
  '--dpkgopt=path-exclude=/usr/share/info/*',
  '--customize-hook=chroot "$1" useradd --uid 1000 --user-group --create-home --home-dir /home/agent --shell /bin/bash agent',
  '--customize-hook=mkdir -p "$1/home/agent/state" "$1/workspace" && chown 1000:1000 "$1/home/agent/state" "$1/workspace"',
];

/** Dockerfile instructions applied on import (the label is added per build). */
const CHANGES = [
  'USER agent',
  'ENV HOME=/home/agent/state',
  'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  'ENV LANG=C.UTF-8',
  'ENV DISABLE_AUTOUPDATER=1',
  'WORKDIR /home/agent',
  'ENTRYPOINT ["/usr/local/bin/borg-agent"]',
];

const t0 = Date.now();
const log = (msg) => process.stderr.write(`[claude-image ${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);

function parseArgs(argv) {
  const opts = { force: false, tag: DEFAULT_TAG, version: process.env.BORG_CLAUDE_VERSION || undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--force') opts.force = true;
    else if (a === '--tag') opts.tag = argv[++i];
    else if (a === '--claude-version') opts.version = argv[++i];
    else if (a === '-h' || a === '--help') {
      process.stdout.write('usage: node scripts/build-claude-image.mjs [--force] [--tag repo:tag] [--claude-version 2.1.N]\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!opts.tag || !/^[a-z0-9][a-z0-9._/-]*(:[\w][\w.-]*)?$/.test(opts.tag)) throw new Error(`--tag: "${opts.tag}" is not an image reference`);
  if (opts.version !== undefined && !/^\d+\.\d+\.\d+$/.test(opts.version)) throw new Error(`--claude-version: "${opts.version}" is not a version`);
  return opts;
}

function sha(...parts) {
  const h = createHash('sha256');
  for (const p of parts) h.update(typeof p === 'string' ? p : JSON.stringify(p)).update('\0');
  return h.digest('hex');
}

function npmJson(args) {
  const out = execFileSync('npm', [...args, '--json'], { cwd: SCRATCH, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  return JSON.parse(out);
}

function tarballName(version) {
  return `anthropic-ai-claude-code-linux-x64-${version}.tgz`;
}

function compareVersions(a, b) {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return 0;
}

/** The 2.1.x version to install: the CLI's latest, its newest 2.1.x, or (offline) the newest cached. */
function resolveVersion() {
  try {
    let info = npmJson(['view', `${CLI_PACKAGE}@latest`, 'version', 'optionalDependencies']);
    if (!/^2\.1\.\d+$/.test(info.version)) {
      const all = [].concat(npmJson(['view', `${CLI_PACKAGE}@~2.1`, 'version']));
      const newest = all.sort(compareVersions).pop();
      log(`${CLI_PACKAGE} latest is ${info.version}; using the newest 2.1.x, ${newest}`);
      info = npmJson(['view', `${CLI_PACKAGE}@${newest}`, 'version', 'optionalDependencies']);
    }
    const version = info.version;
    const platform = info.optionalDependencies?.[PLATFORM_PACKAGE];
    if (platform && platform !== version) log(`${CLI_PACKAGE}@${version} pins ${PLATFORM_PACKAGE}@${platform}`);
    return platform || version;
  } catch (e) {
    const cached = fs
      .readdirSync(path.join(SCRATCH, 'npm'), { withFileTypes: true })
      .map((d) => /^anthropic-ai-claude-code-linux-x64-(\d+\.\d+\.\d+)\.tgz$/.exec(d.name)?.[1])
      .filter(Boolean)
      .sort(compareVersions);
    if (!cached.length) throw new Error(`cannot ask the npm registry for ${CLI_PACKAGE}'s version and nothing is cached: ${firstLine(e)}`);
    const v = cached.pop();
    log(`npm registry not answering (${firstLine(e)}); using the cached ${PLATFORM_PACKAGE}@${v}`);
    return v;
  }
}

/** A path for messages: relative inside the repository, absolute elsewhere. */
function shown(file) {
  const rel = path.relative(ROOT, file);
  return rel.startsWith('..') ? file : rel;
}

function firstLine(e) {
  return String(e?.stderr || e?.message || e)
    .trim()
    .split('\n')[0];
}

/** The Debian mirror apt on this machine uses: http(s) URI serving `bookworm` (not -security/-updates). */
function debianMirror() {
  if (process.env.BORG_DEBIAN_MIRROR) return process.env.BORG_DEBIAN_MIRROR;
  const found = [];
  const files = ['/etc/apt/sources.list'];
  try {
    for (const f of fs.readdirSync('/etc/apt/sources.list.d').sort()) files.push(path.join('/etc/apt/sources.list.d', f));
  } catch {
    /* no .d folder */
  }
  for (const file of files) {
    let text;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    if (file.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (name) => new RegExp(`^${name}:\\s*(.*)$`, 'mi').exec(stanza.replace(/^#.*$/gm, ''))?.[1].trim() ?? '';
        if (/^no$/i.test(field('Enabled'))) continue;
        if (!field('Types').split(/\s+/).includes('deb')) continue;
        for (const uri of field('URIs').split(/\s+/)) found.push({ uri, suites: field('Suites').split(/\s+/) });
      }
    } else if (file.endsWith('.list') || file === '/etc/apt/sources.list') {
      for (const raw of text.split('\n')) {
        const line = raw
          .replace(/#.*/, '')
          .replace(/\[[^\]]*\]/, ' ')
          .trim()
          .split(/\s+/);
        if (line[0] === 'deb' && line.length >= 3) found.push({ uri: line[1], suites: [line[2]] });
      }
    }
  }
  const mirror = found.find((s) => /^https?:\/\//.test(s.uri) && s.suites.includes(SUITE) && !/security/.test(s.uri));
  if (!mirror) throw new Error(`no Debian mirror serving "${SUITE}" in apt's sources (/etc/apt/sources.list[.d]); set BORG_DEBIAN_MIRROR`);
  return mirror.uri;
}

function ensureMmdebstrap() {
  if (spawnSync('mmdebstrap', ['--version'], { stdio: 'ignore' }).status === 0) return;
  if (process.getuid?.() !== 0) throw new Error('mmdebstrap is missing: install it (apt-get install mmdebstrap) as root, then run again');
  log('installing mmdebstrap (apt-get)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'mmdebstrap'], { stdio: ['ignore', 2, 2], env }).status === 0;
  if (install()) return;
  spawnSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 2, 2], env });
  if (!install()) throw new Error('apt-get install mmdebstrap failed');
}

/** Children still running and temp files being written, so a stop signal ends and removes them. */
const children = new Set();
const temps = new Set();
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const c of children) c.kill(sig);
    for (const t of temps) fs.rmSync(t, { recursive: true, force: true });
    log(`stopped (${sig})`);
    process.exit(sig === 'SIGINT' ? 130 : 143);
  });
}

/** Runs `cmd` with its output on our stderr; rejects unless it exits 0. */
function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 2, 2], ...opts });
    children.add(child);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      children.delete(child);
      if (code === 0) resolve();
      else reject(new Error(`${cmd} failed (${signal ?? `exit ${code}`})`));
    });
  });
}

/** The cached root filesystem tar, built with mmdebstrap when missing. */
async function rootfs() {
  const file = path.join(SCRATCH, `rootfs-${SUITE}-${sha(MMDEBSTRAP_ARGS).slice(0, 12)}.tar`);
  if (fs.statSync(file, { throwIfNoEntry: false })?.isFile()) {
    log(`root filesystem: cached ${shown(file)}`);
    return file;
  }
  ensureMmdebstrap();
  const mirror = debianMirror();
  log(`root filesystem: mmdebstrap ${SUITE} from ${mirror} (a few minutes)`);
  const tmp = file.replace(/\.tar$/, `.tmp-${process.pid}.tar`);
  temps.add(tmp);
  try {
    await run('mmdebstrap', ['--quiet', '--format=tar', ...MMDEBSTRAP_ARGS, SUITE, tmp, mirror]);
    fs.renameSync(tmp, file);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
    temps.delete(tmp);
  }
  log(`root filesystem: ${(fs.statSync(file).size / 1e6).toFixed(0)} MB`);
  return file;
}

/** The cached npm tarball of the platform package, fetched with `npm pack` when missing. */
async function claudeTarball(version) {
  const dir = path.join(SCRATCH, 'npm');
  const file = path.join(dir, tarballName(version));
  if (fs.statSync(file, { throwIfNoEntry: false })?.isFile()) {
    log(`claude ${version}: cached ${shown(file)}`);
    return file;
  }
  log(`claude ${version}: npm pack ${PLATFORM_PACKAGE}@${version} (≈ 190 MB)`);
  const tmp = fs.mkdtempSync(path.join(dir, '.pack-'));
  temps.add(tmp);
  try {
    await run('npm', ['pack', `${PLATFORM_PACKAGE}@${version}`, '--pack-destination', tmp, '--loglevel=error', '--silent'], { cwd: tmp, stdio: ['ignore', 'ignore', 2] });
    fs.renameSync(path.join(tmp, tarballName(version)), file);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
    temps.delete(tmp);
  }
  return file;
}

/**
 * Byte offset where the tar archive's end-of-archive blocks start, found by walking the 512-byte
 * headers (pax, GNU long-name and regular entries alike: header + data rounded up to 512).
 * Cutting there lets more entries be appended by plain concatenation.
 */
function tarDataEnd(file) {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const header = Buffer.alloc(512);
    let offset = 0;
    while (offset + 512 <= size) {
      fs.readSync(fd, header, 0, 512, offset);
      if (header.every((b) => b === 0)) return offset;
      const type = String.fromCharCode(header[156]);
      if (type === 'S') throw new Error(`${file}: GNU sparse entries are not supported`);
      offset += 512 + Math.ceil(entrySize(header) / 512) * 512;
    }
    throw new Error(`${file}: no end-of-archive marker (truncated tar?)`);
  } finally {
    fs.closeSync(fd);
  }
}

function entrySize(header) {
  const field = header.subarray(124, 136);
  if (field[0] & 0x80) {
    // base-256 (GNU) for sizes over 8 GiB
    let n = 0;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i];
    return n;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  return text ? parseInt(text, 8) : 0;
}

/** Adds `member` of the gzipped npm tarball to `pack` as `name`, streaming (the binary is ~400 MB). */
function packFromTgz(pack, tgz, member, name) {
  return new Promise((resolve, reject) => {
    let found = false;
    const extract = tar.extract();
    extract.on('entry', (header, stream, next) => {
      if (header.name !== member) {
        stream.on('end', next);
        stream.resume();
        return;
      }
      found = true;
      const entry = pack.entry({ name, size: header.size, mode: 0o755, uid: 0, gid: 0, mtime: header.mtime }, (err) => (err ? reject(err) : next()));
      stream.pipe(entry);
    });
    pipeline(fs.createReadStream(tgz), zlib.createGunzip(), extract)
      .then(() => (found ? resolve() : reject(new Error(`${tgz} holds no ${member}`))))
      .catch(reject);
  });
}

function splitRef(ref) {
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  return colon > slash ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, 'latest'];
}

async function imageInfo(docker, ref) {
  try {
    return await docker.getImage(ref).inspect();
  } catch (e) {
    if (e?.statusCode === 404) return undefined;
    throw e;
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  fs.mkdirSync(path.join(SCRATCH, 'npm'), { recursive: true });
  const docker = new Docker();
  await docker.ping().catch((e) => {
    throw new Error(`Docker is not reachable (${e.message}); start dockerd first`);
  });

  const version = opts.version ?? resolveVersion();
  const entrypoint = fs.readFileSync(ENTRYPOINT);
  const hash = sha(MMDEBSTRAP_ARGS, CHANGES, entrypoint.toString('utf8'), version).slice(0, 16);
  const before = await imageInfo(docker, opts.tag);
  if (!opts.force && before?.Config?.Labels?.[HASH_LABEL] === hash) {
    log(`${opts.tag} is up to date (claude ${version}, ${HASH_LABEL}=${hash}); --force rebuilds it`);
    process.stdout.write(`${opts.tag}\n`);
    return;
  }

  const [fsTar, tgz] = await Promise.all([rootfs(), claudeTarball(version)]);
  const end = tarDataEnd(fsTar);

  const pack = tar.pack();
  const mtime = fs.statSync(ENTRYPOINT).mtime;
  const extras = (async () => {
    await packFromTgz(pack, tgz, 'package/claude', './usr/local/bin/claude');
    pack.entry({ name: './usr/local/bin/borg-agent', mode: 0o755, uid: 0, gid: 0, mtime }, entrypoint);
    pack.finalize();
  })();
  extras.catch((e) => pack.destroy(e));
  async function* image() {
    yield* fs.createReadStream(fsTar, { start: 0, end: end - 1, highWaterMark: 1 << 20 });
    yield* pack;
  }

  const [repo, tag] = splitRef(opts.tag);
  const changes = [...CHANGES, `LABEL ${HASH_LABEL}=${hash}`, `LABEL ${VERSION_LABEL}=${version}`];
  log(`importing ${opts.tag} (claude ${version})`);
  const progress = await docker.importImage(Readable.from(image(), { objectMode: false }), { repo, tag, changes });
  await new Promise((resolve, reject) => {
    docker.modem.followProgress(progress, (err, res) => {
      const failed = res?.find((r) => r.error);
      if (err || failed) reject(new Error(`import failed: ${err?.message ?? failed.error}`));
      else resolve();
    });
  });
  await extras;

  const after = await imageInfo(docker, opts.tag);
  if (after?.Config?.Labels?.[HASH_LABEL] !== hash) throw new Error(`${opts.tag} does not carry ${HASH_LABEL}=${hash} after the import`);
  log(`built ${opts.tag}: ${after.Id.slice(7, 19)}, ${(after.Size / 1e6).toFixed(0)} MB`);
  if (before && before.Id !== after.Id) {
    // The previous build is now untagged; remove it unless something still uses it.
    await docker
      .getImage(before.Id)
      .remove()
      .then(() => log(`removed the previous image ${before.Id.slice(7, 19)}`))
      .catch(() => undefined);
  }
  process.stdout.write(`${opts.tag}\n`);
}

main().catch((e) => {
  log(`failed: ${e?.message ?? e}`);
  process.exitCode = 1;
});

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { contextDigest, currentContextName, readDockerContext, watchDockerContext } from '../../src/core/dockerContext';
import { describeChoice, modemOptions, resolveDockerEndpoint } from '../../src/core/dockerEndpoint';
import { InvalidInputError } from '../../src/core/errors';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A HOME with `~/.docker/config.json` naming `current`, and the given contexts (name → meta.json text, TLS files). */
function home(current: string | undefined, contexts: Record<string, { meta: string; tls?: Record<string, string> }> = {}): string {
  const h = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-ctx-'));
  dirs.push(h);
  const dir = path.join(h, '.docker');
  fs.mkdirSync(dir, { recursive: true });
  if (current !== undefined) fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ auths: {}, currentContext: current }));
  for (const [name, c] of Object.entries(contexts)) {
    const meta = path.join(dir, 'contexts', 'meta', contextDigest(name));
    fs.mkdirSync(meta, { recursive: true });
    fs.writeFileSync(path.join(meta, 'meta.json'), c.meta);
    const tls = path.join(dir, 'contexts', 'tls', contextDigest(name), 'docker');
    for (const [f, text] of Object.entries(c.tls ?? {})) {
      fs.mkdirSync(tls, { recursive: true });
      fs.writeFileSync(path.join(tls, f), text);
    }
  }
  return h;
}

const meta = (name: string, host: string, skip = false) => JSON.stringify({ Name: name, Metadata: {}, Endpoints: { docker: { Host: host, SkipTLSVerify: skip } } });

describe('Docker contexts (the Docker CLI context store)', () => {
  it('the folder of a context is the SHA-256 of its name, as the Docker CLI stores it', () => {
    // sha256("default"), the folder the Docker CLI would use for a context named "default".
    assert.equal(contextDigest('default'), '37a8eec1ce19687d132fe29051dca629d164e2c4958ba141d5f4133a33f0688f');
  });

  it('currentContext of config.json is used when borg.dockerHost and DOCKER_HOST are empty: its Endpoints.docker.Host', () => {
    const h = home('colima', { colima: { meta: meta('colima', 'unix:///Users/me/.colima/default/docker.sock') } });
    const r = resolveDockerEndpoint(undefined, { HOME: h });
    assert.deepEqual(r.endpoint, { kind: 'socket', socketPath: '/Users/me/.colima/default/docker.sock', address: 'unix:///Users/me/.colima/default/docker.sock' });
    assert.equal(r.source.kind, 'context');
    assert.equal(describeChoice(r.endpoint, r.source), 'Docker at unix:///Users/me/.colima/default/docker.sock (context colima)');
  });

  it('the setting, then DOCKER_HOST, win over the context', () => {
    const h = home('colima', { colima: { meta: meta('colima', 'unix:///ctx.sock') } });
    assert.equal(resolveDockerEndpoint('unix:///set.sock', { HOME: h, DOCKER_HOST: 'unix:///env.sock' }).endpoint.address, 'unix:///set.sock');
    const env = resolveDockerEndpoint(undefined, { HOME: h, DOCKER_HOST: 'unix:///env.sock' });
    assert.equal(env.endpoint.address, 'unix:///env.sock');
    assert.equal(env.source.kind, 'env');
  });

  it('DOCKER_CONTEXT overrides currentContext; DOCKER_CONFIG moves the config folder', () => {
    const h = home('colima', { colima: { meta: meta('colima', 'unix:///colima.sock') }, rootless: { meta: meta('rootless', 'unix:///run/user/1000/docker.sock') } });
    assert.equal(resolveDockerEndpoint(undefined, { HOME: h, DOCKER_CONTEXT: 'rootless' }).endpoint.address, 'unix:///run/user/1000/docker.sock');
    const other = home('rootless', { rootless: { meta: meta('rootless', 'unix:///elsewhere.sock') } });
    assert.equal(resolveDockerEndpoint(undefined, { HOME: h, DOCKER_CONFIG: path.join(other, '.docker') }).endpoint.address, 'unix:///elsewhere.sock');
  });

  it('context "default", no currentContext, or no config.json: the default socket', () => {
    for (const h of [home('default'), home(undefined), home('')]) {
      const r = resolveDockerEndpoint(undefined, { HOME: h });
      assert.equal(r.source.kind, 'default');
      assert.equal(r.endpoint.address, 'unix:///var/run/docker.sock');
    }
    assert.equal(currentContextName({ HOME: home('colima'), DOCKER_CONTEXT: 'default' }), undefined);
  });

  it('a tcp context uses its own TLS files (not DOCKER_CERT_PATH), and SkipTLSVerify gives an agent that does not check the server', () => {
    const h = home('remote', { remote: { meta: meta('remote', 'tcp://10.0.0.9:2376', true), tls: { 'ca.pem': 'CA', 'cert.pem': 'CERT', 'key.pem': 'KEY' } } });
    const { endpoint } = resolveDockerEndpoint(undefined, { HOME: h, DOCKER_CERT_PATH: '/nonexistent' });
    assert.equal(endpoint.kind, 'tcp');
    if (endpoint.kind !== 'tcp') return;
    assert.equal(endpoint.tls?.ca?.toString(), 'CA');
    assert.equal(endpoint.tls?.key?.toString(), 'KEY');
    assert.equal(endpoint.tls?.skipVerify, true);
    assert.equal(endpoint.address, 'tcp://10.0.0.9:2376 (TLS, server not verified)');
    const opts = modemOptions(endpoint) as { protocol: string; agent?: { options: { rejectUnauthorized?: boolean } } };
    assert.equal(opts.protocol, 'https');
    assert.equal(opts.agent?.options.rejectUnauthorized, false);
    const plain = home('plain', { plain: { meta: meta('plain', 'tcp://127.0.0.1:2375') } });
    assert.equal(resolveDockerEndpoint(undefined, { HOME: plain, DOCKER_TLS_VERIFY: '1' }).endpoint.address, 'tcp://127.0.0.1:2375', "a context's TLS does not come from DOCKER_TLS_VERIFY");
  });

  it('bad context files give a clear error naming the file', () => {
    const broken = home('broken', { broken: { meta: '{ not json' } });
    assert.throws(
      () => resolveDockerEndpoint(undefined, { HOME: broken }),
      (e: unknown) => e instanceof InvalidInputError && e.message.includes(path.join(broken, '.docker', 'contexts', 'meta', contextDigest('broken'), 'meta.json')) && /not valid JSON/.test(e.message),
    );
    const missing = home('gone');
    assert.throws(
      () => readDockerContext({ HOME: missing }),
      (e: unknown) => e instanceof InvalidInputError && /context "gone" \(from .*config\.json\) is not defined/.test(e.message) && /docker context use/.test(e.message),
    );
    const noHost = home('nohost', { nohost: { meta: JSON.stringify({ Name: 'nohost', Endpoints: {} }) } });
    assert.throws(
      () => readDockerContext({ HOME: noHost }),
      (e: unknown) => e instanceof InvalidInputError && /no Endpoints\.docker\.Host/.test(e.message),
    );
    const badConfig = home(undefined);
    fs.writeFileSync(path.join(badConfig, '.docker', 'config.json'), '{');
    assert.throws(
      () => readDockerContext({ HOME: badConfig }),
      (e: unknown) => e instanceof InvalidInputError && e.message.includes(path.join(badConfig, '.docker', 'config.json')),
    );
    const badHost = home('ssh', { ssh: { meta: meta('ssh', 'ssh://me@host') } });
    assert.throws(
      () => resolveDockerEndpoint(undefined, { HOME: badHost }),
      (e: unknown) => e instanceof InvalidInputError && /Docker context "ssh"/.test(e.message) && /key is not in .*known_hosts/.test(e.message),
    );
  });

  it('watching: `docker context use` (config.json replaced by a rename) fires once', async () => {
    const h = home('default', { colima: { meta: meta('colima', 'unix:///colima.sock') } });
    const env = { HOME: h };
    let fired = 0;
    const keepAlive = setTimeout(() => undefined, 10_000); // the watcher does not hold the event loop open (persistent: false)
    const changed = new Promise<void>((resolve) => {
      const w = watchDockerContext(
        () => {
          fired++;
          w.dispose();
          resolve();
        },
        env,
        20,
      );
    });
    const file = path.join(h, '.docker', 'config.json');
    fs.writeFileSync(`${file}.tmp`, JSON.stringify({ currentContext: 'colima' }));
    fs.renameSync(`${file}.tmp`, file);
    await changed;
    clearTimeout(keepAlive);
    assert.equal(fired, 1);
    assert.equal(resolveDockerEndpoint(undefined, env).endpoint.address, 'unix:///colima.sock');
  });
});

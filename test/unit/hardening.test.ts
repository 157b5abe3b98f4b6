/** The confinement rules (core/hardening.ts) and who containers run as (core/ownership.ts). */
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { assertNoDockerSocket, DEFAULT_HARDENING, describeLimits, hardenedHostConfig, readHardening } from '../../src/core/hardening';
import { InvalidInputError } from '../../src/core/errors';
import { LABEL_GATEWAY, LABEL_LIMITS, networkOf } from '../../src/core/labels';
import { containerOwner, FALLBACK_AGENT_OWNER } from '../../src/core/ownership';

describe('hardening settings', () => {
  it('defaults: pids 512, 4096 MiB, 2 CPUs, network gateway', () => {
    assert.deepEqual(readHardening({}), { settings: { pidsLimit: 512, memoryMb: 4096, cpus: 2, network: 'gateway' }, problems: [], warnings: [] });
  });

  it('a bad value gets one clear warning naming the setting and the default used', () => {
    const r = readHardening({ pidsLimit: -3, memoryMb: 'lots', cpus: 0.5, network: 'host' });
    assert.equal(r.settings.pidsLimit, 512);
    assert.equal(r.settings.memoryMb, 4096);
    assert.equal(r.settings.cpus, 0.5);
    assert.equal(r.settings.network, 'gateway', 'network "host" would share the host\'s network stack');
    assert.deepEqual(r.warnings, [
      'borg.pidsLimit is -3; it must be a whole number from 16 to 1000000. Using the default, 512.',
      'borg.memoryMb is "lots"; it must be a whole number from 16 to 1048576 MiB. Using the default, 4096.',
      'borg.network is "host"; it must be one of gateway, bridge, none. Using gateway.',
    ]);
  });

  it('HostConfig drops every capability, forbids new privileges, limits pids, memory (no swap), CPUs and sets Init', () => {
    assert.deepEqual(hardenedHostConfig({ ...DEFAULT_HARDENING, network: 'none' }), {
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      PidsLimit: 512,
      Memory: 4096 * 1024 * 1024,
      MemorySwap: 4096 * 1024 * 1024,
      NanoCpus: 2e9,
      Init: true,
      NetworkMode: 'none',
    });
    assert.equal(hardenedHostConfig(DEFAULT_HARDENING, 8 * 1024 * 1024).MemorySwap, 8 * 1024 * 1024);
    assert.match(describeLimits(DEFAULT_HARDENING), /^pids 512 · memory 4096 MiB · cpus 2 · network gateway/);
    assert.equal(hardenedHostConfig(DEFAULT_HARDENING).NetworkMode, 'none', 'gateway: no Docker network, only the mounted socket');
    assert.equal(hardenedHostConfig({ ...DEFAULT_HARDENING, network: 'bridge' }).NetworkMode, 'bridge');
  });
});

describe('the network a container was created with', () => {
  it('is read back from its borg.limits label, else from borg.gateway', () => {
    for (const network of ['gateway', 'bridge', 'none'] as const) {
      assert.equal(networkOf({ [LABEL_LIMITS]: describeLimits({ ...DEFAULT_HARDENING, network }) }), network);
    }
    assert.equal(networkOf({ [LABEL_LIMITS]: 'pids 512 · memory 4096 MiB · cpus 2 · network bridge', [LABEL_GATEWAY]: 'true' }), 'bridge', 'the limits line wins');
    assert.equal(networkOf({ [LABEL_GATEWAY]: 'true' }), 'gateway');
    assert.equal(networkOf({ [LABEL_GATEWAY]: 'false' }), undefined);
    assert.equal(networkOf({}), undefined, 'created before Borg recorded it');
    assert.equal(networkOf(undefined), undefined);
  });
});

describe('no Docker socket in a container', () => {
  it('refuses a unix socket, anything named docker.sock, and folders that hold the daemon socket', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-sock-'));
    const sock = path.join(dir, 'api.sock');
    const server = net.createServer().listen(sock);
    await new Promise((r) => server.once('listening', r));
    try {
      for (const bind of [`${sock}:/x`, '/var/run/docker.sock:/var/run/docker.sock', '/nowhere/docker.sock:/s', '/var/run:/r:ro', '/:/host:ro']) {
        assert.throws(() => assertNoDockerSocket([bind], 'unix:///var/run/docker.sock'), InvalidInputError, bind);
      }
      const custom = path.join(dir, 'custom');
      fs.mkdirSync(custom);
      assert.throws(() => assertNoDockerSocket([`${custom}:/c`], `unix://${custom}/engine.sock`), InvalidInputError, 'the folder of the endpoint in use');
      assertNoDockerSocket([`${dir}:/work`, `${os.tmpdir()}/x:/y:ro`], 'unix:///var/run/docker.sock');
    } finally {
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('who a container runs as', () => {
  it('the host user when not root', () => {
    assert.deepEqual(containerOwner('', { uid: 501, gid: 20 }), { uid: 501, gid: 20 });
    assert.deepEqual(containerOwner('0:0', { uid: 501, gid: 20 }), { uid: 501, gid: 20 });
  });

  it('with the host user root: a numeric non-root image USER, else 1000:1000 — never 0', () => {
    const root = { uid: 0, gid: 0 };
    assert.deepEqual(containerOwner('', root), FALLBACK_AGENT_OWNER);
    assert.deepEqual(containerOwner('agent', root), FALLBACK_AGENT_OWNER);
    assert.deepEqual(containerOwner('0', root), FALLBACK_AGENT_OWNER);
    assert.deepEqual(containerOwner('root', root), FALLBACK_AGENT_OWNER);
    assert.deepEqual(containerOwner('1234', root), { uid: 1234, gid: 1234 });
    assert.deepEqual(containerOwner('1234:0', root), { uid: 1234, gid: 1234 });
    assert.deepEqual(containerOwner('1234:99', root), { uid: 1234, gid: 99 });
  });
});

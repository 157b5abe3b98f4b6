/**
 * The two-hosts fixture itself (test/support/dockerDaemons.ts): two extra dockerd instances, each
 * in its own network namespace with its own data-root and socket. They are separate daemons,
 * their containers get Borg's confinement (network none) and bind mounts of host paths, a killed
 * one is unreachable and leaves no process behind, and dispose leaves nothing at all.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEMO_IMAGE } from '../../src/core/demoImage';
import { DockerUnreachableError } from '../../src/core/errors';
import { DEFAULT_HARDENING, hardenedHostConfig } from '../../src/core/hardening';
import { DockerDaemons, shimSocketOf } from '../support/dockerDaemons';
import { docker, waitFor } from './helpers';

describe('two extra Docker daemons as two hosts (the fixture)', () => {
  let hosts: DockerDaemons;
  let tmp: string;

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-dd-'));
    hosts = await DockerDaemons.start(2);
  });

  after(async () => {
    await hosts?.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('runs two separate daemons, each with the demo image, in their own network namespaces', async () => {
    // Not Info.ID: dockerd 20.10 takes it from /etc/docker/key.json, the same for every daemon on a machine (and Info.Name is the hostname).
    const [a, b] = await Promise.all(hosts.daemons.map((d) => d.docker.info() as Promise<{ DockerRootDir: string }>));
    const main = (await docker.info()) as { DockerRootDir: string };
    assert.equal(new Set([a.DockerRootDir, b.DockerRootDir, main.DockerRootDir]).size, 3, 'three daemons');
    assert.equal(a.DockerRootDir, path.join(hosts.get(1).dir, 'data'));
    assert.equal(b.DockerRootDir, path.join(hosts.get(2).dir, 'data'));
    for (const d of hosts.daemons) {
      assert.ok(await d.engine.image(DEMO_IMAGE), `${d.name} has ${DEMO_IMAGE}`);
      assert.notEqual(fs.readlinkSync(`/proc/${d.pid}/ns/net`), fs.readlinkSync('/proc/self/ns/net'), `${d.name}'s dockerd runs in another network namespace`);
    }
    const c = await hosts.get(1).docker.createContainer({ Image: DEMO_IMAGE, Entrypoint: ['/bin/sh', '-c', 'true'] });
    try {
      await assert.rejects(hosts.get(2).docker.getContainer(c.id).inspect(), (e: { statusCode?: number }) => e.statusCode === 404);
      await assert.rejects(docker.getContainer(c.id).inspect(), (e: { statusCode?: number }) => e.statusCode === 404);
    } finally {
      await c.remove({ force: true });
    }
  });

  it("runs a container under Borg's confinement (network none) with host paths and a host unix socket bind-mounted", async () => {
    const work = path.join(tmp, 'work');
    const gw = path.join(tmp, 'gw');
    fs.mkdirSync(work);
    fs.mkdirSync(gw);
    fs.writeFileSync(path.join(work, 'in.txt'), 'from the host\n');
    fs.chownSync(work, 1000, 1000);
    const server = net.createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(path.join(gw, 'gateway.sock'), r));
    try {
      const d = hosts.get(2).docker;
      const c = await d.createContainer({
        Image: DEMO_IMAGE,
        User: '1000:1000',
        Entrypoint: ['/bin/sh', '-c', 'cat /w/in.txt > /w/out.txt && test -S /run/gw/gateway.sock && cat /sys/class/net/*/operstate | tr "\\n" " " > /w/net.txt'],
        HostConfig: { ...hardenedHostConfig(DEFAULT_HARDENING), Binds: [`${work}:/w`, `${gw}:/run/gw:ro`] },
      });
      try {
        await c.start();
        const { StatusCode } = (await c.wait()) as { StatusCode: number };
        const info = await c.inspect();
        assert.equal(info.HostConfig.NetworkMode, 'none');
        assert.equal(StatusCode, 0, 'the script ran to its end');
        assert.equal(fs.readFileSync(path.join(work, 'out.txt'), 'utf8'), 'from the host\n');
        assert.equal(fs.statSync(path.join(work, 'out.txt')).uid, 1000);
        assert.equal(fs.readFileSync(path.join(work, 'net.txt'), 'utf8').trim(), 'unknown', 'only lo (operstate unknown) inside');
      } finally {
        await c.remove({ force: true });
      }
    } finally {
      server.close();
    }
  });

  it("kill: the daemon is unreachable at once, a wait under way fails as unreachable, its containers' processes are gone; the other host carries on", async () => {
    const h1 = hosts.get(1);
    const c = await h1.docker.createContainer({ Image: DEMO_IMAGE, Entrypoint: ['/bin/sh', '-c', 'sleep 600'], HostConfig: hardenedHostConfig(DEFAULT_HARDENING) });
    await c.start();
    const pid = (await c.inspect()).State.Pid;
    assert.ok(pid > 0 && fs.existsSync(`/proc/${pid}`), 'the container runs');
    const waiting = assert.rejects(h1.engine.wait(c.id), DockerUnreachableError);
    const attached = await h1.engine.attach(c.id, { stdin: false });
    const attachEnded = new Promise<void>((resolve) => attached.once('close', resolve).resume());
    await hosts.stop(1, 'kill');
    // Docker sent the wait's headers at once: the body is cut, and the wait fails as unreachable (it never settled before).
    await waiting;
    await attachEnded;
    assert.equal(h1.up, false);
    await assert.rejects(h1.engine.ping(), DockerUnreachableError);
    await assert.rejects(h1.engine.inspect(c.id), DockerUnreachableError);
    assert.ok(!fs.existsSync(`/proc/${pid}`) || /^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8')), "the container's process was killed with its host");
    await hosts.get(2).engine.ping();
  });

  it('crash: dockerd is gone but its containers run on and still write to their bind mounts; dispose ends them', async () => {
    const one = await DockerDaemons.start(1);
    try {
      const d = one.get(1);
      const out = path.join(tmp, 'crash');
      fs.mkdirSync(out);
      fs.chownSync(out, 1000, 1000);
      const c = await d.docker.createContainer({
        Image: DEMO_IMAGE,
        User: '1000:1000',
        Entrypoint: ['/bin/sh', '-c', 'while :; do date +%s%N >> /w/ticks; sleep 0.1; done'],
        HostConfig: { ...hardenedHostConfig(DEFAULT_HARDENING), Binds: [`${out}:/w`] },
      });
      await c.start();
      const pid = (await c.inspect()).State.Pid;
      await one.stop(1, 'crash');
      await assert.rejects(d.engine.ping(), DockerUnreachableError);
      const ticks = () => (fs.existsSync(path.join(out, 'ticks')) ? fs.readFileSync(path.join(out, 'ticks'), 'utf8').split('\n').length : 0);
      const before = ticks();
      await waitFor(() => ticks() > before + 2, 10_000, 'the orphaned container to write on');
      assert.ok(fs.existsSync(`/proc/${pid}`), 'its process runs on');
      await one.dispose();
      assert.ok(!fs.existsSync(`/proc/${pid}`) || /^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8')), 'dispose ended it');
    } finally {
      await one.dispose();
    }
  });

  it('graceful: SIGTERM, and the daemon exits', async () => {
    await hosts.stop(2, 'graceful');
    await assert.rejects(hosts.get(2).engine.ping(), DockerUnreachableError);
  });

  it('dispose leaves no namespace, process, mount, cgroup, shim socket or folder', async () => {
    const started = await DockerDaemons.start(1);
    const d = started.get(1);
    const c = await d.docker.createContainer({ Image: DEMO_IMAGE, Entrypoint: ['/bin/sh', '-c', 'sleep 600'], HostConfig: hardenedHostConfig(DEFAULT_HARDENING) });
    await c.start();
    const containerPid = (await c.inspect()).State.Pid;
    const cgroups = fs
      .readdirSync('/sys/fs/cgroup')
      .map((ctl) => path.join('/sys/fs/cgroup', ctl, d.cgroup))
      .filter((p) => fs.existsSync(p));
    assert.ok(cgroups.length > 0, 'its containers have their own cgroup parent');
    const shim = shimSocketOf(d, c.id);
    assert.ok(fs.existsSync(shim), `the shim's socket is ${shim}`);
    await started.dispose();
    assert.ok(!fs.existsSync(`/run/netns/${d.netns}`), 'namespace deleted');
    assert.ok(!fs.existsSync(started.root), 'folder removed');
    assert.ok(!fs.existsSync(`/proc/${d.pid}`) || /^State:\s+Z/m.test(fs.readFileSync(`/proc/${d.pid}/status`, 'utf8')), 'dockerd gone');
    assert.ok(!fs.existsSync(`/proc/${containerPid}`) || /^State:\s+Z/m.test(fs.readFileSync(`/proc/${containerPid}/status`, 'utf8')), 'container process gone');
    assert.equal(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(started.root), false, 'nothing mounted under its folder');
    for (const p of cgroups) assert.ok(!fs.existsSync(p), `${p} removed`);
    assert.ok(!fs.existsSync(shim), 'its shim socket removed');
  });
});

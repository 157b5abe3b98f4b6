import { describe, it, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isLoopbackHost, isPlainRemote, modemOptions, parseDockerEndpoint } from '../../src/core/dockerEndpoint';
import { DockerEngine } from '../../src/core/engine';
import { InvalidInputError } from '../../src/core/errors';

/** A folder with stand-in ca.pem / cert.pem / key.pem (contents are only read, never parsed here). */
let certDir: string;
let emptyHome: string;
before(() => {
  certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-certs-'));
  for (const f of ['ca.pem', 'cert.pem', 'key.pem']) fs.writeFileSync(path.join(certDir, f), `${f} contents`);
  emptyHome = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-home-'));
});
after(() => {
  fs.rmSync(certDir, { recursive: true, force: true });
  fs.rmSync(emptyHome, { recursive: true, force: true });
});

const TLS = () => ({ DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certDir, HOME: emptyHome });

describe('parseDockerEndpoint', () => {
  it('nothing set: the local socket', () => {
    assert.deepEqual(parseDockerEndpoint(undefined, { HOME: emptyHome }), { kind: 'socket', socketPath: '/var/run/docker.sock', address: 'unix:///var/run/docker.sock' });
  });

  it('nothing set and a Docker Desktop socket in ~/.docker/run: that socket', () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-home-'));
    try {
      fs.mkdirSync(path.join(home, '.docker', 'run'), { recursive: true });
      fs.writeFileSync(path.join(home, '.docker', 'run', 'docker.sock'), '');
      assert.equal((parseDockerEndpoint(undefined, { HOME: home }) as { socketPath: string }).socketPath, path.join(home, '.docker', 'run', 'docker.sock'));
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it('unix:// paths, from the setting or from DOCKER_HOST; the setting wins', () => {
    assert.deepEqual(parseDockerEndpoint('unix:///run/user/1000/docker.sock', {}), { kind: 'socket', socketPath: '/run/user/1000/docker.sock', address: 'unix:///run/user/1000/docker.sock' });
    assert.deepEqual(parseDockerEndpoint(undefined, { DOCKER_HOST: 'unix:///tmp/d.sock' }), { kind: 'socket', socketPath: '/tmp/d.sock', address: 'unix:///tmp/d.sock' });
    assert.equal(parseDockerEndpoint('unix:///a.sock', { DOCKER_HOST: 'tcp://10.0.0.1' }).address, 'unix:///a.sock');
    assert.equal(parseDockerEndpoint('unix://', {}).address, 'unix:///var/run/docker.sock');
  });

  it('tcp:// without DOCKER_TLS_VERIFY is plain HTTP, default port 2375; a bare host:port is tcp', () => {
    assert.deepEqual(parseDockerEndpoint('tcp://10.0.0.5', {}), { kind: 'tcp', host: '10.0.0.5', port: 2375, address: 'tcp://10.0.0.5:2375' });
    assert.deepEqual(parseDockerEndpoint('docker.example:1234', {}), { kind: 'tcp', host: 'docker.example', port: 1234, address: 'tcp://docker.example:1234' });
    assert.equal(parseDockerEndpoint('tcp://h', { DOCKER_TLS_VERIFY: '0' }).address, 'tcp://h:2375', 'DOCKER_TLS_VERIFY=0 is off');
    assert.equal(parseDockerEndpoint('tcp://h', { DOCKER_TLS_VERIFY: '' }).address, 'tcp://h:2375', 'empty is off');
    assert.equal(parseDockerEndpoint('http://h', {}).address, 'tcp://h:2375');
  });

  it('tcp:// with DOCKER_TLS_VERIFY is TLS, default port 2376, with ca/cert/key read from DOCKER_CERT_PATH', () => {
    const e = parseDockerEndpoint('tcp://10.0.0.5', TLS());
    assert.equal(e.kind, 'tcp');
    if (e.kind !== 'tcp') return;
    assert.equal(e.port, 2376);
    assert.equal(e.address, 'tcp://10.0.0.5:2376 (TLS)');
    assert.equal(e.tls?.ca?.toString(), 'ca.pem contents');
    assert.equal(e.tls?.cert?.toString(), 'cert.pem contents');
    assert.equal(e.tls?.key?.toString(), 'key.pem contents');
    assert.equal(e.tls?.certDir, certDir);
  });

  it('the same address gives the same endpoint from borg.dockerHost and from DOCKER_HOST', () => {
    for (const env of [{}, TLS()]) {
      assert.deepEqual(parseDockerEndpoint('tcp://10.0.0.5:9999', env), parseDockerEndpoint(undefined, { ...env, DOCKER_HOST: 'tcp://10.0.0.5:9999' }));
    }
  });

  it('DOCKER_CERT_PATH defaults to ~/.docker', () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-home-'));
    try {
      fs.mkdirSync(path.join(home, '.docker'));
      for (const f of ['ca.pem', 'cert.pem', 'key.pem']) fs.writeFileSync(path.join(home, '.docker', f), f);
      const e = parseDockerEndpoint('tcp://h', { DOCKER_TLS_VERIFY: '1', HOME: home });
      assert.equal(e.kind === 'tcp' && e.tls?.certDir, path.join(home, '.docker'));
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it('https:// is TLS (port 2376): client certificates only with DOCKER_TLS_VERIFY or DOCKER_CERT_PATH', () => {
    const plain = parseDockerEndpoint('https://h', { HOME: emptyHome });
    assert.equal(plain.address, 'tcp://h:2376 (TLS)');
    assert.deepEqual(plain.kind === 'tcp' && plain.tls, {});
    const withCerts = parseDockerEndpoint('https://h:443', { DOCKER_CERT_PATH: certDir });
    assert.equal(withCerts.kind === 'tcp' && withCerts.tls?.cert?.toString(), 'cert.pem contents');
  });

  it('a missing certificate file is an InvalidInputError naming the file and the variables', () => {
    fs.rmSync(path.join(certDir, 'key.pem'));
    try {
      assert.throws(
        () => parseDockerEndpoint('tcp://h', TLS()),
        (e: unknown) =>
          e instanceof InvalidInputError &&
          e.message.includes(path.join(certDir, 'key.pem')) &&
          /is missing/.test(e.message) &&
          /DOCKER_CERT_PATH/.test(e.message) &&
          /DOCKER_TLS_VERIFY/.test(e.message),
      );
    } finally {
      fs.writeFileSync(path.join(certDir, 'key.pem'), 'key.pem contents');
    }
  });

  it('http:// with DOCKER_TLS_VERIFY is refused, saying what to write', () => {
    assert.throws(
      () => parseDockerEndpoint('http://h:2375', TLS()),
      (e: unknown) => e instanceof InvalidInputError && /tcp:\/\/HOST:2376/.test(e.message) && /unset DOCKER_TLS_VERIFY/.test(e.message),
    );
  });

  it('bad addresses are InvalidInputErrors that say what to write and where the address came from', () => {
    for (const [bad, source] of [
      ['ssh://me:pw@host', 'borg.dockerHost'],
      ['fd://3', 'borg.dockerHost'],
      ['npipe:////./pipe/docker_engine', 'borg.dockerHost'],
      ['tcp://', 'borg.dockerHost'],
      ['tcp://h:99999', 'borg.dockerHost'],
      ['tcp://h:2375/path', 'borg.dockerHost'],
      ['unix://relative.sock', 'borg.dockerHost'],
      ['not an address', 'borg.dockerHost'],
    ]) {
      assert.throws(
        () => parseDockerEndpoint(bad, {}),
        (e: unknown) => e instanceof InvalidInputError && e.message.includes(`"${bad}" (${source})`) && /Write unix:\/\/\/var\/run\/docker\.sock, tcp:\/\/HOST:2375/.test(e.message),
        bad,
      );
    }
    assert.throws(
      () => parseDockerEndpoint(undefined, { DOCKER_HOST: 'ftp://h' }),
      (e: unknown) => e instanceof InvalidInputError && /\(DOCKER_HOST\)/.test(e.message),
    );
  });
});

describe('modemOptions', () => {
  it("sets every connection field, so docker-modem's own reading of DOCKER_* cannot fill one in", () => {
    assert.deepEqual(modemOptions(parseDockerEndpoint('unix:///x.sock', {})), {
      socketPath: '/x.sock',
      host: undefined,
      port: undefined,
      ca: undefined,
      cert: undefined,
      key: undefined,
      username: undefined,
      password: undefined,
      sshOptions: undefined,
      protocol: 'http',
    });
    assert.deepEqual(modemOptions(parseDockerEndpoint('tcp://h', {})), {
      socketPath: undefined,
      host: 'h',
      port: 2375,
      ca: undefined,
      cert: undefined,
      key: undefined,
      username: undefined,
      password: undefined,
      sshOptions: undefined,
      protocol: 'http',
    });
    const tls = modemOptions(parseDockerEndpoint('tcp://h', TLS()));
    assert.equal(tls.protocol, 'https');
    assert.equal(tls.port, 2376);
    assert.equal(String(tls.ca), 'ca.pem contents');
    assert.equal(String(tls.cert), 'cert.pem contents');
    assert.equal(String(tls.key), 'key.pem contents');
  });
});

describe('isLoopbackHost / isPlainRemote', () => {
  it('127.0.0.0/8, ::1 and localhost are loopback; other addresses are not', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '127.255.255.255', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', 'localhost', 'LOCALHOST', 'docker.localhost', 'localhost.'])
      assert.equal(isLoopbackHost(h), true, h);
    for (const h of ['10.0.0.5', '128.0.0.1', '127.0.0.256', '0.0.0.0', '::', '::2', 'localhost.example.com', 'mylocalhost', 'example.com', '192.168.1.1']) assert.equal(isLoopbackHost(h), false, h);
  });

  it('plain HTTP to a non-loopback host is plain-remote; TLS, loopback and unix sockets are not', () => {
    assert.equal(isPlainRemote(parseDockerEndpoint('tcp://10.0.0.5:2375', {})), true);
    assert.equal(isPlainRemote(parseDockerEndpoint('http://docker.example', {})), true);
    assert.equal(isPlainRemote(parseDockerEndpoint('tcp://10.0.0.5', TLS())), false);
    assert.equal(isPlainRemote(parseDockerEndpoint('https://docker.example', { HOME: emptyHome })), false);
    assert.equal(isPlainRemote(parseDockerEndpoint('tcp://127.0.0.1:2375', {})), false);
    assert.equal(isPlainRemote(parseDockerEndpoint('tcp://[::1]:2375', {})), false);
    assert.equal(isPlainRemote(parseDockerEndpoint('tcp://localhost:2375', {})), false);
    assert.equal(isPlainRemote(parseDockerEndpoint('unix:///var/run/docker.sock', {})), false);
  });

  it('DockerEngine.insecureRemote follows the endpoint it is connected to', () => {
    const engine = new DockerEngine('tcp://10.0.0.5:2375');
    assert.equal(engine.insecureRemote, true);
    assert.equal(engine.endpoint, 'tcp://10.0.0.5:2375');
    engine.connect('unix:///var/run/docker.sock');
    assert.equal(engine.insecureRemote, false);
    engine.connect('tcp://127.0.0.1:2375');
    assert.equal(engine.insecureRemote, false);
  });

  it('a bad address leaves the engine on its old connection', () => {
    const engine = new DockerEngine('unix:///var/run/docker.sock');
    assert.throws(() => engine.connect('ssh://x'), InvalidInputError);
    assert.equal(engine.endpoint, 'unix:///var/run/docker.sock');
  });
});

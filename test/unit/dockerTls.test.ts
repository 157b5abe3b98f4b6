/**
 * DockerEngine over TLS to a real HTTPS server (node's `https`, `requestCert`) standing in for a
 * daemon on `tcp://`: the certificates are made with `openssl` at test time (a CA, a server
 * certificate for 127.0.0.1, a client certificate), and the server answers `/_ping` with `OK`
 * as dockerd does. Skipped when `openssl` is not installed.
 */
import { describe, it, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { DockerEngine } from '../../src/core/engine';

const HAVE_OPENSSL = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;

let dir: string;
let server: https.Server;
let port: number;
/** Client certificate CNs the server saw, one per `/_ping` that reached it. */
const seen: string[] = [];

function openssl(...args: string[]) {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Makes ca.pem, server-{key,cert}.pem and the client's cert.pem/key.pem (the names DOCKER_CERT_PATH uses) in `dir`. */
function makeCertificates() {
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=borg-test-ca');
  fs.writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  fs.writeFileSync(path.join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [who, cn] of [
    ['server', '127.0.0.1'],
    ['client', 'borg-test-client'],
  ]) {
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${who}-key.pem`, '-out', `${who}.csr`, '-subj', `/CN=${cn}`);
    openssl('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', `${who}-cert.pem`, '-days', '1', '-extfile', `${who}.ext`);
  }
  fs.copyFileSync(path.join(dir, 'client-cert.pem'), path.join(dir, 'cert.pem'));
  fs.copyFileSync(path.join(dir, 'client-key.pem'), path.join(dir, 'key.pem'));
}

/** Runs `fn` with DOCKER_* set as given (unset when undefined), restoring them afterwards. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const old = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (v: Record<string, string | undefined>) => {
    for (const [k, val] of Object.entries(v)) {
      if (val === undefined) delete process.env[k];
      else process.env[k] = val;
    }
  };
  set(vars);
  try {
    return await fn();
  } finally {
    set(old);
  }
}

describe('DockerEngine over TLS (tcp:// with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH)', { skip: HAVE_OPENSSL ? false : 'openssl is not installed' }, () => {
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-tls-'));
    makeCertificates();
    const read = (f: string) => fs.readFileSync(path.join(dir, f));
    server = https.createServer({ key: read('server-key.pem'), cert: read('server-cert.pem'), ca: read('ca.pem'), requestCert: true, rejectUnauthorized: true }, (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      seen.push(String(peer?.subject?.CN ?? ''));
      if (req.url?.endsWith('/_ping')) {
        res.writeHead(200, { 'content-type': 'text/plain', 'api-version': '1.41' });
        res.end('OK');
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('engine.ping() succeeds over TLS and the server saw the client certificate (address from borg.dockerHost)', async () => {
    seen.length = 0;
    await withEnv({ DOCKER_HOST: undefined, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir }, async () => {
      const engine = new DockerEngine(`tcp://127.0.0.1:${port}`);
      assert.equal(engine.endpoint, `tcp://127.0.0.1:${port} (TLS)`);
      assert.equal(engine.insecureRemote, false);
      await engine.ping();
    });
    assert.deepEqual(seen, ['borg-test-client']);
  });

  it('the same from DOCKER_HOST', async () => {
    seen.length = 0;
    await withEnv({ DOCKER_HOST: `tcp://127.0.0.1:${port}`, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir }, async () => {
      await new DockerEngine().ping();
    });
    assert.deepEqual(seen, ['borg-test-client']);
  });

  it('without DOCKER_TLS_VERIFY the same address is plain HTTP, which the TLS server never answers', async () => {
    seen.length = 0;
    await withEnv({ DOCKER_HOST: undefined, DOCKER_TLS_VERIFY: undefined, DOCKER_CERT_PATH: undefined }, async () => {
      await assert.rejects(new DockerEngine(`tcp://127.0.0.1:${port}`).ping());
    });
    assert.deepEqual(seen, []);
  });
});

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { classifyDockerFailure, describeDockerDown, dockerDownOf } from '../../src/core/dockerDown';
import type { EndpointSource } from '../../src/core/dockerEndpoint';
import { DockerEngine } from '../../src/core/engine';
import { DockerUnreachableError, InvalidInputError } from '../../src/core/errors';

const DEFAULT: EndpointSource = { kind: 'default' };
const SETTING: EndpointSource = { kind: 'setting' };
const ENV: EndpointSource = { kind: 'env' };
const CONTEXT: EndpointSource = { kind: 'context', name: 'colima', metaFile: '/h/.docker/contexts/meta/x/meta.json' };

/** A Node socket error as docker-modem passes it on, wrapped the way the engine wraps it. */
function nodeError(code: string, message = `connect ${code} /var/run/docker.sock`): DockerUnreachableError {
  const cause = Object.assign(new Error(message), { code });
  return new DockerUnreachableError('unix:///var/run/docker.sock', message, { cause });
}

describe('classifyDockerFailure: the cause decides the advice', () => {
  it('the default socket missing or refusing: Docker is not running', () => {
    assert.equal(classifyDockerFailure(nodeError('ENOENT'), DEFAULT), 'notRunning');
    assert.equal(classifyDockerFailure(nodeError('ECONNREFUSED'), DEFAULT), 'notRunning');
  });

  it('EACCES on the socket: permission (the docker group), whatever chose it', () => {
    for (const s of [DEFAULT, SETTING, CONTEXT]) assert.equal(classifyDockerFailure(nodeError('EACCES'), s), 'permission');
  });

  it('an address from borg.dockerHost or DOCKER_HOST that goes nowhere, or does not parse: check the setting, not "Start Docker"', () => {
    for (const code of ['ENOENT', 'ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH']) {
      assert.equal(classifyDockerFailure(nodeError(code), SETTING), 'setting', code);
      assert.equal(classifyDockerFailure(nodeError(code), ENV), 'setting', code);
    }
    assert.equal(classifyDockerFailure(new InvalidInputError('The Docker address "ssh://x" (borg.dockerHost) is not valid'), SETTING), 'setting');
  });

  it('a context that points nowhere, or is broken: check the context', () => {
    assert.equal(classifyDockerFailure(nodeError('ENOENT'), CONTEXT), 'context');
    assert.equal(classifyDockerFailure(new InvalidInputError('The Docker context "colima" ... is not valid JSON'), CONTEXT), 'context');
  });

  it('TLS failures: check the certificates (by code, or by the words when no code came along)', () => {
    for (const code of ['DEPTH_ZERO_SELF_SIGNED_CERT', 'ERR_TLS_CERT_ALTNAME_INVALID', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'EPROTO', 'ERR_SSL_WRONG_VERSION_NUMBER']) {
      assert.equal(classifyDockerFailure(nodeError(code, 'write EPROTO'), SETTING), 'tls', code);
    }
    assert.equal(classifyDockerFailure(new DockerUnreachableError('tcp://h:2376 (TLS)', 'self-signed certificate'), ENV), 'tls');
  });

  it('anything else: other', () => {
    assert.equal(classifyDockerFailure(new Error('(HTTP code 500) server error'), DEFAULT), 'other');
    assert.equal(classifyDockerFailure(nodeError('ETIMEDOUT'), SETTING), 'other');
  });

  it('the advice fits the cause: "Start Docker" only when nothing is configured', () => {
    const notRunning = dockerDownOf(nodeError('ENOENT'), 'unix:///var/run/docker.sock', DEFAULT);
    assert.match(notRunning.advice, /^Start Docker/);
    assert.equal(describeDockerDown(notRunning), `Docker is not reachable at unix:///var/run/docker.sock (the default socket): connect ENOENT /var/run/docker.sock. ${notRunning.advice}`);
    const setting = dockerDownOf(nodeError('ENOENT'), 'unix:///nonexistent/docker.sock', SETTING);
    assert.match(setting.advice, /^Check borg\.dockerHost/);
    assert.doesNotMatch(setting.advice, /Start Docker/);
    assert.match(dockerDownOf(nodeError('ENOENT'), 'unix:///x', CONTEXT).advice, /context colima.*docker context use default/);
    assert.match(dockerDownOf(nodeError('EACCES'), 'unix:///var/run/docker.sock', DEFAULT).advice, /docker group/);
  });

  it("the engine's own error carries that advice: a missing socket named by borg.dockerHost says to check the setting", async () => {
    const engine = new DockerEngine('unix:///nonexistent/docker.sock');
    await assert.rejects(
      engine.ping(),
      (e: unknown) => e instanceof DockerUnreachableError && /^Docker is not reachable at unix:\/\/\/nonexistent\/docker\.sock: .*ENOENT.*\. Check borg\.dockerHost/.test(e.message),
    );
  });
});

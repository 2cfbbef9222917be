// kubectl's --context: a context other than current-context, for static credentials and for users
// with a credential plugin (handed to client-node), and a context the kubeconfig lacks named in the error.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeConfigError, loadKubeClientConfig, StaticKubeConfig } from '../../src/kube/config.js';

let dir: string;
let file: string;
const nowhere = () => ({ env: {}, home: join(dir, 'no-home'), serviceAccountDir: join(dir, 'no-sa') });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'llmstack-context-'));
  file = join(dir, 'config');
  writeFileSync(
    file,
    dump({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'dev',
      clusters: [
        { name: 'dev', cluster: { server: 'https://dev.example:6443' } },
        { name: 'prod', cluster: { server: 'https://prod.example:6443' } },
      ],
      users: [
        { name: 'dev', user: { token: 'dev-token' } },
        { name: 'sso', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'sso-login', interactiveMode: 'Never' } } },
      ],
      contexts: [
        { name: 'dev', context: { cluster: 'dev', user: 'dev', namespace: 'team-a' } },
        { name: 'prod-token', context: { cluster: 'prod', user: 'dev', namespace: 'team-b' } },
        { name: 'prod-sso', context: { cluster: 'prod', user: 'sso' } },
      ],
    }),
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('--context', () => {
  it('without it, current-context', async () => {
    const kc = await loadKubeClientConfig({ file }, nowhere());
    expect(kc.getCurrentCluster()?.server).toBe('https://dev.example:6443');
  });

  it('picks the named context, with its cluster and namespace', async () => {
    const kc = await loadKubeClientConfig({ file, context: 'prod-token' }, nowhere());
    expect(kc).toBeInstanceOf(StaticKubeConfig);
    expect(kc.getCurrentCluster()?.server).toBe('https://prod.example:6443');
    expect((kc as StaticKubeConfig).namespace).toBe('team-b');
  });

  it('picks it from $KUBECONFIG too', async () => {
    const kc = await loadKubeClientConfig({ context: 'prod-token' }, { ...nowhere(), env: { KUBECONFIG: file } });
    expect(kc.getCurrentCluster()?.server).toBe('https://prod.example:6443');
  });

  it('hands a plugin user to client-node on the named context', async () => {
    const kc = await loadKubeClientConfig({ file, context: 'prod-sso' }, nowhere());
    expect(kc).not.toBeInstanceOf(StaticKubeConfig);
    expect(kc.getCurrentCluster()?.server).toBe('https://prod.example:6443');
  });

  it('names a context the kubeconfig does not have', async () => {
    const err = await loadKubeClientConfig({ file, context: 'staging' }, nowhere()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeConfigError);
    expect((err as Error).message).toBe(`${file}: context "staging" is not in contexts`);
  });

  it('is an error, not the pod service account, when there is no kubeconfig', async () => {
    const err = await loadKubeClientConfig({ context: 'dev' }, nowhere()).catch((e: unknown) => e);
    expect((err as Error).message).toBe('context "dev": no kubeconfig found (neither $KUBECONFIG nor ~/.kube/config exists)');
  });
});

// The Ollama model cache with real Ollama (test/support/ollama.ts: the pinned release built from its
// Go module) pulling from a registry on loopback (test/support/ollama-registry.ts). Each container is
// the rendered one: its shell, env and readiness command, with only the node's part mapped (port,
// volume folders, the non-root user). What a new pod downloads before it is ready:
//   cache.mode pod     every pod pulls the whole model into its own volume
//   cache.mode shared  the fill Job pulls it once; a pod that starts meanwhile waits for it, reads the
//                      claim read-only and downloads nothing, as does every pod after it
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../src/catalog/load.js';
import type { Catalog } from '../../src/catalog/types.js';
import { ollamaListName } from '../../src/render/apps/ollama.js';
import { objectsOf } from '../../src/validate/offline.js';
import { renderExample, SHARED_CACHE_EXAMPLE } from '../support/examples.js';
import { binDir, claimReadOnly, ollamaBin, runContainer, runsAsOtherUser, waitReady, type Container, type RunningContainer } from '../support/ollama.js';
import { makeModel, modelBytes, registryCertificate, startOllamaRegistry, type OllamaRegistry, type RegistryModel } from '../support/ollama-registry.js';

const MODEL_BYTES = 24 << 20;

let catalog: Catalog;
let work: string;
let bin: string;
let registry: OllamaRegistry;
let caFile: string;
let tiny: RegistryModel;
let other: RegistryModel;
const running: RunningContainer[] = [];

type Obj = { kind: string; metadata: { name: string }; spec: any };

function rendered(example: string): { serving: Container; job?: Container } {
  const file = renderExample(example, 'v1beta2', catalog).find((f) => f.path === 'bundles/ollama/ollama.yaml')!;
  const objs = objectsOf(file) as unknown as Obj[];
  const svc = objs.find((o) => o.kind === 'Service')!;
  const job = objs.find((o) => o.kind === 'Job');
  return { serving: svc.spec.template.spec.containers[0], job: job?.spec.template.spec.containers[0] };
}

/** A folder that the containers' user can write (a volume: emptyDir, a claim, /tmp). */
function volume(name: string): string {
  const dir = path.join(work, name);
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o777);
  return dir;
}

async function start(container: Container, models: string, volumes: { models: string; tmp: string }, asOtherUser = true): Promise<RunningContainer> {
  const c = await runContainer({ container, bin, volumes, env: { LLMSTACK_MODELS: models, LLMSTACK_KEEP: models.split(' ').filter(Boolean).map(ollamaListName).join(' '), SSL_CERT_FILE: caFile }, asOtherUser, watchDir: work });
  running.push(c);
  return c;
}

const pullName = (m: RegistryModel) => `${registry.host}/${m.name}`;

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return `sha256:${h.digest('hex')}`;
}

beforeAll(async () => {
  catalog = await loadCatalog();
  work = mkdtempSync(path.join(os.tmpdir(), `llmstack-ollama-${process.pid}-`));
  chmodSync(work, 0o755);
  // A cold build compiles Ollama with its llama.cpp (cgo): about 5 minutes on 2 cores, then cached.
  bin = binDir(work, await ollamaBin());
  const certs = await registryCertificate(volume('certs'));
  caFile = certs.caFile;
  chmodSync(caFile, 0o644);
  const blobs = volume('registry');
  tiny = await makeModel(blobs, 'library/tiny:v1', MODEL_BYTES);
  other = await makeModel(blobs, 'team/other:v2', MODEL_BYTES / 2);
  registry = await startOllamaRegistry({ models: [tiny, other], tls: certs });
}, 900_000);

afterAll(async () => {
  await Promise.all(running.map((c) => c.stop()));
  await registry?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the model cache with real Ollama', () => {
  it('cache.mode pod: a new pod downloads the whole model before it is ready', async () => {
    const { serving, job } = rendered('quickstart.yaml');
    expect(job).toBeUndefined();
    registry.resetCount();
    const pod = await start(serving, pullName(tiny), { models: volume('pod-a-models'), tmp: volume('pod-a-tmp') });
    await waitReady(pod, 120_000);
    expect(registry.bytesSent()).toBe(modelBytes(tiny));
    await pod.stop();
  }, 180_000);

  it('cache.mode shared: a pod started before the fill Job waits for it, then it and every later pod download nothing', async () => {
    const { serving, job } = rendered(SHARED_CACHE_EXAMPLE);
    expect(job).toBeDefined();
    expect(serving.env).toContainEqual({ name: 'OLLAMA_NOPRUNE', value: 'true' });
    const cache = volume('claim');
    // The claim is written by the Job only: as root the pods run as nobody, to whom it is read-only.
    if (runsAsOtherUser) claimReadOnly(cache, true);
    registry.resetCount();

    // GIVEN a serving pod that starts on the empty claim (scale-up while the Job has not run yet),
    const early = await start(serving, pullName(tiny), { models: cache, tmp: volume('early-tmp') });
    expect(await early.ready()).toBe(false);
    // WHEN the fill Job runs (as the claim's writer),
    const fill = await start(job!, pullName(tiny), { models: cache, tmp: volume('job-tmp') }, false);
    let seenUnready = false;
    while (fill.child.exitCode === null) {
      if (!(await early.ready())) seenUnready = true;
      await new Promise((r) => setTimeout(r, 200));
    }
    // THEN the Job succeeds, having downloaded the model once,
    expect(await fill.exited, fill.output()).toBe(0);
    expect(seenUnready).toBe(true);
    expect(registry.bytesSent()).toBe(modelBytes(tiny));
    // the early pod becomes ready from the claim, and every blob is intact.
    await waitReady(early, 60_000);
    for (const b of [tiny.config, ...tiny.layers]) expect(await sha256(path.join(cache, 'blobs', b.digest.replace(':', '-')))).toBe(b.digest);

    // AND pod N+1 (scale-up or from zero), on a claim nobody may write now, downloads 0 bytes.
    claimReadOnly(cache, true);
    const write = await start({ args: ['touch "$OLLAMA_MODELS/blobs/probe"'], env: serving.env }, '', { models: cache, tmp: volume('write-tmp') });
    expect(await write.exited, 'the claim must be read-only to the serving pods here').not.toBe(0);
    registry.resetCount();
    const before = registry.requests.length;
    const next = await start(serving, pullName(tiny), { models: cache, tmp: volume('next-tmp') });
    await waitReady(next, 60_000);
    expect(registry.bytesSent()).toBe(0);
    expect(registry.requests.slice(before)).toEqual([]);
    await Promise.all([early.stop(), next.stop()]);
    claimReadOnly(cache, false);
  }, 300_000);

  it('why the serving pods set OLLAMA_NOPRUNE: at start Ollama deletes every layer no manifest names yet', async () => {
    // A layer the fill Job has downloaded and verified, before it writes the model's manifest.
    const { serving } = rendered(SHARED_CACHE_EXAMPLE);
    const layer = tiny.layers[0]!;
    const inFlight = async (name: string) => {
      const dir = volume(name);
      mkdirSync(path.join(dir, 'blobs'), { mode: 0o777 });
      mkdirSync(path.join(dir, 'manifests'), { mode: 0o777 });
      chmodSync(path.join(dir, 'blobs'), 0o777);
      chmodSync(path.join(dir, 'manifests'), 0o777);
      const blob = path.join(dir, 'blobs', layer.digest.replace(':', '-'));
      copyFileSync(layer.file, blob);
      chmodSync(blob, 0o666);
      return { dir, blob };
    };
    const serveAndStop = async (env: Container['env'], dir: string, tmp: string) => {
      const pod = await start({ ...serving, env }, pullName(tiny), { models: dir, tmp: volume(tmp) });
      // Ollama prunes before it listens: once it answers, pruning is over.
      const deadline = Date.now() + 30_000;
      while (!(await fetch(`http://127.0.0.1:${pod.port}/`).then((r) => r.ok, () => false))) {
        if (Date.now() > deadline) throw new Error(`Ollama did not answer:\n${pod.output()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      await pod.stop();
    };
    const pruning = await inFlight('prune-on');
    await serveAndStop(serving.env.filter((e) => e.name !== 'OLLAMA_NOPRUNE'), pruning.dir, 'prune-on-tmp');
    expect(existsSync(pruning.blob)).toBe(false);
    const kept = await inFlight('prune-off');
    await serveAndStop(serving.env, kept.dir, 'prune-off-tmp');
    expect(existsSync(kept.blob)).toBe(true);
  }, 120_000);

  it('a new model list: the new Job downloads only the new model and removes the one the spec dropped', async () => {
    const { job } = rendered(SHARED_CACHE_EXAMPLE);
    const cache = path.join(work, 'claim');
    expect(existsSync(path.join(cache, 'blobs', tiny.layers[0]!.digest.replace(':', '-')))).toBe(true);
    registry.resetCount();
    const fill = await start(job!, pullName(other), { models: cache, tmp: volume('job2-tmp') }, false);
    expect(await fill.exited, fill.output()).toBe(0);
    expect(registry.bytesSent()).toBe(modelBytes(other));
    const blobs = readdirSync(path.join(cache, 'blobs')).sort();
    expect(blobs).toEqual([other.config, ...other.layers].map((b) => b.digest.replace(':', '-')).sort());
  }, 300_000);
});

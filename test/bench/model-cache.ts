// The Ollama model cache, measured with real Ollama (the pinned release, built by
// scripts/build-testbin.sh ollama) and a registry on loopback serving a generated model of
// BENCH_MODEL_MIB (default 200) MiB: what a new Ollama pod downloads, and how long until its rendered
// readiness command passes, with cache.mode pod (its own empty volume) and shared (the claim the fill
// Job filled). Each figure stands beside a floor measured in the same run:
//   pod    beside the bare download of the same bytes from the same registry (Node's https client)
//   shared beside `ollama serve` on an empty models folder until it answers (no pod starts faster)
// Loopback is the best case for `pod`: on a real link a 200 MiB pull at 100 Mbit/s adds ~17 s per
// pod, and a multi-GB model minutes, while `shared` stays at the serve floor.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCatalog } from '../../src/catalog/load.js';
import { renderStack } from '../../src/render/index.js';
import { ollamaListName } from '../../src/render/apps/ollama.js';
import { objectsOf } from '../../src/validate/offline.js';
import { exampleFor, SHARED_CACHE_EXAMPLE } from '../support/examples.js';
import { binDir, claimReadOnly, ollamaBin, runContainer, runsAsOtherUser, waitReady, type Container } from '../support/ollama.js';
import { makeModel, modelBytes, registryCertificate, startOllamaRegistry } from '../support/ollama-registry.js';

const MIB = 1 << 20;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function runModelCacheBench(runs: number): Promise<void> {
  const mib = Number(process.env.BENCH_MODEL_MIB ?? 200);
  const catalog = await loadCatalog();
  const containers = (example: string) => {
    const file = renderStack(exampleFor(example, 'v1beta2', catalog), catalog).files.find((f) => f.path === 'bundles/ollama/ollama.yaml')!;
    const objs = objectsOf(file) as unknown as { kind: string; spec: any }[];
    return {
      serving: objs.find((o) => o.kind === 'Service')!.spec.template.spec.containers[0] as Container,
      job: objs.find((o) => o.kind === 'Job')?.spec.template.spec.containers[0] as Container | undefined,
    };
  };
  const pod = containers('quickstart.yaml');
  const shared = containers(SHARED_CACHE_EXAMPLE);

  const work = mkdtempSync(join(tmpdir(), `llmstack-ollama-${process.pid}-bench-`));
  chmodSync(work, 0o755);
  const volume = (name: string) => {
    const d = join(work, name);
    mkdirSync(d, { recursive: true });
    chmodSync(d, 0o777);
    return d;
  };
  let close: (() => Promise<void>) | undefined;
  try {
    const bin = binDir(work, await ollamaBin());
    const certs = await registryCertificate(volume('certs'));
    chmodSync(certs.caFile, 0o644);
    const model = await makeModel(volume('registry'), 'library/bench:v1', mib * MIB);
    const registry = await startOllamaRegistry({ models: [model], tls: certs });
    close = () => registry.close();
    const name = `${registry.host}/${model.name}`;
    const env = { LLMSTACK_MODELS: name, LLMSTACK_KEEP: ollamaListName(name), SSL_CERT_FILE: certs.caFile };
    const ca = readFileSync(certs.caFile);

    console.log(`\nOllama model cache: a new pod of ollama/ollama ${process.env.OLLAMA_VERSION ?? 'v0.12.6'} (built from its Go module), ${(modelBytes(model) / MIB).toFixed(1)} MiB model from a registry on loopback, median of ${runs} runs`);

    // Floor for `pod`: the model's bytes over the same TLS connection type, no Ollama.
    const download: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      let n = 0;
      await new Promise<void>((resolve, reject) => {
        https.get(`https://localhost:${registry.host.split(':')[1]}/data/${model.layers[0]!.digest}`, { ca }, (res) => {
          res.on('data', (c: Buffer) => (n += c.length));
          res.on('end', resolve);
          res.on('error', reject);
        }).on('error', reject);
      });
      if (n !== model.layers[0]!.size) throw new Error(`floor download got ${n} bytes of ${model.layers[0]!.size}`);
      download.push(performance.now() - t0);
    }

    // cache.mode pod: every new pod, its own empty volume.
    const podMs: number[] = [];
    let podBytes = 0;
    for (let i = 0; i < runs; i++) {
      const models = volume(`pod-${i}`);
      registry.resetCount();
      const s = performance.now();
      const c = await runContainer({ container: pod.serving, bin, volumes: { models, tmp: volume(`pod-${i}-tmp`) }, env, watchDir: work });
      try {
        await waitReady(c, 600_000, 20);
        podMs.push(performance.now() - s);
        podBytes = registry.bytesSent();
      } finally {
        await c.stop();
        rmSync(models, { recursive: true, force: true });
      }
    }

    // cache.mode shared: the fill Job once, then new pods on the filled, read-only claim.
    const claim = volume('claim');
    if (runsAsOtherUser) claimReadOnly(claim, true);
    registry.resetCount();
    const t0 = performance.now();
    const job = await runContainer({ container: shared.job!, bin, volumes: { models: claim, tmp: volume('job-tmp') }, env, asOtherUser: false, watchDir: work });
    if ((await job.exited) !== 0) throw new Error(`the fill Job failed:\n${job.output()}`);
    const jobMs = performance.now() - t0;
    const jobBytes = registry.bytesSent();
    claimReadOnly(claim, true);
    const sharedMs: number[] = [];
    let sharedBytes = 0;
    for (let i = 0; i < runs; i++) {
      registry.resetCount();
      const s = performance.now();
      const c = await runContainer({ container: shared.serving, bin, volumes: { models: claim, tmp: volume(`shared-${i}-tmp`) }, env, watchDir: work });
      try {
        await waitReady(c, 120_000, 20);
        sharedMs.push(performance.now() - s);
        sharedBytes = Math.max(sharedBytes, registry.bytesSent());
      } finally {
        await c.stop();
      }
    }
    claimReadOnly(claim, false);

    // Floor for `shared`: Ollama on an empty folder until its server answers.
    const serve: number[] = [];
    for (let i = 0; i < runs; i++) {
      const s = performance.now();
      const c = await runContainer({ container: { args: ['exec ollama serve'], env: shared.serving.env }, bin, volumes: { models: volume(`serve-${i}`), tmp: volume(`serve-${i}-tmp`) }, env, watchDir: work });
      try {
        while (!(await fetch(`http://127.0.0.1:${c.port}/`).then((r) => r.ok, () => false))) {
          if (performance.now() - s > 60_000) throw new Error(`ollama serve did not answer:\n${c.output()}`);
          await new Promise((r) => setTimeout(r, 20));
        }
        serve.push(performance.now() - s);
      } finally {
        await c.stop();
      }
    }

    const ms = (x: number) => `${Math.round(x)} ms`.padStart(9);
    const mb = (b: number) => `${(b / MIB).toFixed(1)} MiB`.padStart(10);
    const line = (label: string, bytes: string, t: number, extra: string) => console.log(`${label.padEnd(44)} ${bytes} ${ms(t)}  ${extra}`);
    console.log(`${''.padEnd(44)} ${'fetched'.padStart(10)} ${'to ready'.padStart(9)}`);
    line('floor: download of the model (https, Node)', mb(model.layers[0]!.size), median(download), `runs ${download.map(Math.round).join('/')}`);
    line('cache.mode pod: new pod (empty volume)', mb(podBytes), median(podMs), `${(median(podMs) / median(download)).toFixed(1)}x floor; runs ${podMs.map(Math.round).join('/')}`);
    line('cache.mode shared: fill Job (once)', mb(jobBytes), jobMs, 'until it exits');
    line('floor: ollama serve answers (empty folder)', mb(0), median(serve), `runs ${serve.map(Math.round).join('/')}`);
    line('cache.mode shared: new pod (filled claim)', mb(sharedBytes), median(sharedMs), `${(median(sharedMs) / median(serve)).toFixed(1)}x floor; runs ${sharedMs.map(Math.round).join('/')}`);
    console.log(`(to ready: until the rendered readiness command first passes, from the container's start, polled every 20 ms; the kubelet polls every 5 s)`);
    if (sharedBytes !== 0 || podBytes !== modelBytes(model)) throw new Error(`unexpected bytes: shared ${sharedBytes}, pod ${podBytes} of ${modelBytes(model)}`);
  } finally {
    await close?.();
    rmSync(work, { recursive: true, force: true });
  }
}

// Every Knative object that llmstack renders passes Knative Serving's own defaulting and validation
// (the code of Serving's webhook, knative.dev/serving at KNATIVE_SERVING_VERSION, run by
// test/tools/knative-check) with the ConfigMaps the rendered KnativeServing makes the operator write.
// The liveness tests show each input of that check can refuse.
import path from 'node:path';
import { parseDocument } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../src/catalog/load.js';
import type { Catalog } from '../../src/catalog/types.js';
import { renderStack, type RenderedFile } from '../../src/render/index.js';
import { loadSpec } from '../../src/spec/load.js';
import { objectsOf } from '../../src/validate/offline.js';
import { exampleCases, exampleFor, SHARED_CACHE_EXAMPLE } from '../support/examples.js';
import { knativeCheck, knativeCheckBin, knativeCheckVersion, type KnativeResult } from '../support/knative.js';
import { repoRoot, testbinVersions } from '../support/paths.js';

const SERVING_FILE = 'bundles/knative-serving/knative-serving.yaml';

let catalog: Catalog;
beforeAll(async () => {
  catalog = await loadCatalog();
  // A cold build compiles knative.dev/serving's API packages: minutes on a small machine.
  await knativeCheckBin();
}, 1_200_000);

interface KnativeFile {
  file: RenderedFile;
  namespace: string;
  /** kind/name of every serving.knative.dev document in it. */
  objects: string[];
}

async function render(example: string): Promise<RenderedFile[]> {
  // A variant (`<example>#<variant>`) is the example with a setting changed; see test/support/examples.ts.
  const stack = example.includes('#') ? exampleFor(example, 'v1beta2', catalog) : await loadSpec(path.join(repoRoot, 'examples', example), catalog);
  return renderStack(stack, catalog).files;
}

/** The rendered files that hold serving.knative.dev objects, with the namespace Fleet applies them to. */
function knativeFiles(files: RenderedFile[]): KnativeFile[] {
  const out: KnativeFile[] = [];
  for (const file of files) {
    if (file.path.endsWith('fleet.yaml')) continue;
    const objects = objectsOf(file)
      .filter((o) => o.apiVersion.startsWith('serving.knative.dev/'))
      .map((o) => `${o.kind}/${o.metadata?.name}`);
    if (!objects.length) continue;
    // A per-cluster overlay (bundles/<bundle>/overlays/<ns>.<name>/) is applied by its bundle's fleet.yaml.
    const bundleDir = path.posix.dirname(file.path).replace(/\/overlays\/[^/]+$/, '');
    const fleet = files.find((f) => f.path === path.posix.join(bundleDir, 'fleet.yaml'));
    const namespace = fleet ? (parseDocument(fleet.content).get('defaultNamespace') as string | undefined) : undefined;
    if (!namespace) throw new Error(`${file.path}: its bundle's fleet.yaml names no defaultNamespace`);
    out.push({ file, namespace, objects });
  }
  return out;
}

function servingText(files: RenderedFile[]): string {
  const f = files.find((x) => x.path === SERVING_FILE);
  if (!f) throw new Error(`${SERVING_FILE} is not rendered, but Knative objects are`);
  return f.content;
}

/** The rendered KnativeServing with one spec.config value changed (undefined deletes it). */
function withConfig(text: string, map: string, key: string, value: string | undefined): string {
  const doc = parseDocument(text);
  if (value === undefined) doc.deleteIn(['spec', 'config', map, key]);
  else doc.setIn(['spec', 'config', map, key], value);
  return doc.toString();
}

const failures = (results: KnativeResult[]) => results.filter((r) => !r.ok).map((r) => `${r.kind} ${r.name} (${r.source}): ${r.error}`);

describe('Knative Serving admits what llmstack renders', () => {
  it('runs the Knative Serving version that scripts/testbin-versions.env pins', async () => {
    const pinned = testbinVersions().knativeServing;
    expect(pinned).toMatch(/^v\d+\.\d+\.\d+$/);
    expect(await knativeCheckVersion()).toBe(pinned);
  });

  let total = 0;
  for (const example of exampleCases) {
    it(`${example.replace(/\.yaml$/, '')}: every Knative object is accepted`, async () => {
      const files = await render(example);
      const kfiles = knativeFiles(files);
      const serving = servingText(files);
      for (const { file, namespace, objects } of kfiles) {
        const { exitCode, results, stderr } = await knativeCheck({ knativeServing: serving, objects: [file], namespace });
        expect(failures(results), stderr).toEqual([]);
        expect(exitCode, stderr).toBe(0);
        // The ConfigMaps the Ollama Service depends on were set and validated (a spec.config key the
        // operator would ignore is bad input), and every Knative object was checked.
        const validated = results.filter((r) => r.kind === 'ConfigMap' && r.validated).map((r) => r.name);
        expect(validated).toEqual(expect.arrayContaining(['config-defaults', 'config-features']));
        const checked = results.filter((r) => r.kind !== 'ConfigMap');
        expect(checked.map((r) => `${r.kind}/${r.name}`)).toEqual(objects);
        expect(checked.every((r) => r.source.startsWith(`${file.path}#`))).toBe(true);
        total += checked.length;
      }
    });
  }

  it('checked Knative objects at all', () => {
    expect(total).toBeGreaterThan(0);
  });

  it('lets a long generation run: Ollama keeps timeoutSeconds and responseStartTimeoutSeconds after defaulting', async () => {
    const files = await render('quickstart.yaml');
    const [ollama] = knativeFiles(files).filter((k) => k.objects.includes('Service/ollama'));
    const { results } = await knativeCheck({ knativeServing: servingText(files), objects: [ollama!.file], namespace: ollama!.namespace });
    const svc = results.find((r) => r.kind === 'Service' && r.name === 'ollama');
    const spec = svc?.defaulted?.spec?.template?.spec;
    expect(svc?.ok).toBe(true);
    // Knative defaults responseStartTimeoutSeconds to 300 s when it is unset; a non-streamed answer
    // would be cut there.
    expect(spec?.responseStartTimeoutSeconds).toBe(spec?.timeoutSeconds);
    expect(spec?.timeoutSeconds).toBeGreaterThan(300);
  });
});

describe('the Knative check is live', () => {
  it("refuses a timeoutSeconds above the configured maximum, with Knative's message", async () => {
    // GIVEN the KnativeServing without the raised max-revision-timeout-seconds (as it was rendered
    // before), WHEN the Ollama Service (timeoutSeconds 900) is admitted, THEN Knative refuses it.
    const files = await render('quickstart.yaml');
    const [ollama] = knativeFiles(files).filter((k) => k.objects.includes('Service/ollama'));
    const serving = withConfig(servingText(files), 'defaults', 'max-revision-timeout-seconds', undefined);
    const { exitCode, results } = await knativeCheck({ knativeServing: serving, objects: [ollama!.file], namespace: ollama!.namespace });
    expect(exitCode).toBe(1);
    const svc = results.find((r) => r.kind === 'Service');
    expect(svc).toMatchObject({ name: 'ollama', ok: false, webhook: 'validation.webhook.serving.knative.dev' });
    expect(svc?.error).toBe('expected 0 <= 900 <= 600: spec.template.spec.timeoutSeconds');
  });

  it('refuses a pod-spec field whose feature flag is off (config-features is read)', async () => {
    // The GPU example pins Ollama to the GPU pool with a nodeSelector.
    const files = await render('gpu-scale-from-zero.yaml');
    const [ollama] = knativeFiles(files).filter((k) => k.objects.includes('Service/ollama'));
    expect(ollama!.file.content).toContain('nodeSelector:');
    const serving = withConfig(servingText(files), 'features', 'kubernetes.podspec-nodeselector', 'disabled');
    const { exitCode, results } = await knativeCheck({ knativeServing: serving, objects: [ollama!.file], namespace: ollama!.namespace });
    expect(exitCode).toBe(1);
    expect(results.find((r) => r.kind === 'Service')?.error).toBe('must not set the field(s): spec.template.spec.nodeSelector');
  });

  it('refuses a max-scale above the autoscaler limit (config-autoscaler is read)', async () => {
    const files = await render('quickstart.yaml');
    const [ollama] = knativeFiles(files).filter((k) => k.objects.includes('Service/ollama'));
    // Knative wants a default max-scale within a set limit; the quickstart asks for max-scale 3.
    const serving = withConfig(withConfig(servingText(files), 'autoscaler', 'max-scale-limit', '2'), 'autoscaler', 'max-scale', '2');
    const { exitCode, results } = await knativeCheck({ knativeServing: serving, objects: [ollama!.file], namespace: ollama!.namespace });
    expect(exitCode).toBe(1);
    expect(results.find((r) => r.kind === 'Service')?.error).toBe('expected 1 <= 3 <= 2: spec.template.metadata.annotations.autoscaling.knative.dev/max-scale');
  });

  it('refuses the shared model cache claim when the persistent-volume-claim flag is off', async () => {
    const files = await render(SHARED_CACHE_EXAMPLE);
    const [ollama] = knativeFiles(files).filter((k) => k.objects.includes('Service/ollama'));
    expect(ollama!.file.content).toContain('claimName: ollama-models');
    const serving = withConfig(servingText(files), 'features', 'kubernetes.podspec-persistent-volume-claim', 'disabled');
    const { exitCode, results } = await knativeCheck({ knativeServing: serving, objects: [ollama!.file], namespace: ollama!.namespace });
    expect(exitCode).toBe(1);
    expect(results.find((r) => r.kind === 'Service')?.error).toContain('Persistent volume claim support is disabled');
  });

  it('needs no persistent-volume-write flag because the cache is mounted read-only, and would refuse a writable one', async () => {
    // GIVEN the rendered KnativeServing, which leaves kubernetes.podspec-persistent-volume-write off,
    const files = await render(SHARED_CACHE_EXAMPLE);
    const serving = servingText(files);
    expect(parseDocument(serving).getIn(['spec', 'config', 'features', 'kubernetes.podspec-persistent-volume-write'])).toBeUndefined();
    const [ollama] = knativeFiles(files).filter((k) => k.objects.includes('Service/ollama'));
    // WHEN the Service asked for the claim writable, THEN Knative refuses it.
    const writable = { path: ollama!.file.path, content: ollama!.file.content.replaceAll('readOnly: true', 'readOnly: false') };
    expect(writable.content).not.toBe(ollama!.file.content);
    const { exitCode, results } = await knativeCheck({ knativeServing: serving, objects: [writable], namespace: ollama!.namespace });
    expect(exitCode).toBe(1);
    expect(results.find((r) => r.kind === 'Service')?.error).toContain('not read-only');
  });

  it('refuses a ConfigMap that Serving would refuse, and checks no object against it', async () => {
    const files = await render('quickstart.yaml');
    const [ollama] = knativeFiles(files).filter((k) => k.objects.includes('Service/ollama'));
    const serving = withConfig(servingText(files), 'defaults', 'revision-timeout-seconds', '1000');
    const { exitCode, results } = await knativeCheck({ knativeServing: serving, objects: [ollama!.file], namespace: ollama!.namespace });
    expect(exitCode).toBe(1);
    expect(results.find((r) => r.name === 'config-defaults')).toMatchObject({
      ok: false,
      webhook: 'config.webhook.serving.knative.dev',
      error: 'revision-timeout-seconds (1000) cannot be greater than max-revision-timeout-seconds (900)',
    });
    expect(results.find((r) => r.kind === 'Service')).toMatchObject({ ok: false, error: expect.stringMatching(/^not checked/) });
  });

  it('refuses an unquoted config value and a map the operator would ignore, naming the field', async () => {
    const files = await render('quickstart.yaml');
    const [ollama] = knativeFiles(files).filter((k) => k.objects.includes('Service/ollama'));
    const doc = parseDocument(servingText(files));
    doc.setIn(['spec', 'config', 'defaults', 'max-revision-timeout-seconds'], 900);
    doc.setIn(['spec', 'config', 'featurs', 'x'], 'y');
    const { exitCode, results, stderr } = await knativeCheck({ knativeServing: doc.toString(), objects: [ollama!.file], namespace: ollama!.namespace });
    expect(exitCode).toBe(2);
    expect(results).toEqual([]);
    expect(stderr).toContain('spec.config.defaults.max-revision-timeout-seconds must be a string (quote it)');
    expect(stderr).toContain('spec.config.featurs names no ConfigMap that Knative Serving installs');
  });

  it('fails on input without any Knative object instead of passing it', async () => {
    const files = await render('quickstart.yaml');
    const { exitCode, stderr } = await knativeCheck({
      knativeServing: servingText(files),
      objects: [{ path: 'cm.yaml', content: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n' }],
      namespace: 'llm',
    });
    expect(exitCode).toBe(2);
    expect(stderr).toContain('no serving.knative.dev object in the input');
  });
});

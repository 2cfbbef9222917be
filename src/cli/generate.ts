// `llmstack generate`: render the spec, write the files llmstack owns, one commit, push.
import { renderStack } from '../render/index.js';
import { generateToGit, type GenerateResult } from '../gitops/repo.js';
import { formatOutput, gitAuthFromEnv, loadInputs, pushRemote, type SpecOptions } from './common.js';

export interface GenerateOptions extends SpecOptions {
  out?: string;
  /** Remote for git when it differs from spec.git.url (the URL Fleet pulls from), e.g. a port-forward. */
  remote?: string;
  dryRun?: boolean;
  push?: boolean;
  output?: 'text' | 'json' | 'yaml';
}

export async function generateCommand(o: GenerateOptions, print: (s: string) => void, note: (s: string) => void): Promise<GenerateResult> {
  const { stack, catalog } = await loadInputs(o, note);
  const git = stack.spec.git;
  const remote = pushRemote(o.remote, git.url);
  // Without a remote the embedded default is a local repo in ./gitops.
  const dir = o.out ?? (remote ? undefined : 'gitops');
  const result = await generateToGit({
    stack: stack.metadata.name,
    target: { dir, url: remote, branch: git.branch, base: git.path ?? '', auth: gitAuthFromEnv() },
    render: () => renderStack(stack, catalog).files,
    dryRun: o.dryRun,
    push: o.push,
    log: note,
  });
  if (o.output === 'json' || o.output === 'yaml') {
    const { writes: _, ...plan } = result.plan;
    print(formatOutput({ stack: stack.metadata.name, dir: dir ?? null, remote: remote ?? null, ...plan, changes: result.changes, commit: result.commit ?? null, pushed: result.pushed }, o.output));
    return result;
  }
  const where = remote ? `${remote} (${git.branch})` : `${dir} (${git.branch})`;
  const { plan } = result;
  if (result.changes.length === 0 && plan.add.length + plan.update.length + plan.delete.length === 0) {
    print(`stack "${stack.metadata.name}" → ${where}: no changes`);
    return result;
  }
  print(`stack "${stack.metadata.name}" → ${where}${o.dryRun ? ' (dry run: nothing written)' : ''}`);
  for (const c of result.changes) print(`  ${c}`);
  const counts = `${plan.add.length} added, ${plan.update.length} updated, ${plan.delete.length} deleted`;
  if (o.dryRun) print(`would write: ${counts}`);
  else if (result.commit) print(`committed ${result.commit.slice(0, 12)} (${counts})${result.pushed ? ', pushed' : ''}`);
  else print(`no commit: the files already match the last commit (${counts} in the working tree)`);
  return result;
}
